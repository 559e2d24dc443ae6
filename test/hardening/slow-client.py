# A WebSocket subscriber that stops reading, with a tiny receive buffer so the kernel cannot hide
# its backlog: the server sees it within seconds. Prints "open", then, after SIGCONT, how it was closed.
import base64, os, socket, struct, sys, time

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
s.connect((host, port))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
print("open", flush=True)
time.sleep(float(sys.argv[4]))  # not reading: the test also SIGSTOPs this process
# Drain until the server's close frame (opcode 8): its code and reason are what the server said.
buf = b""
s.settimeout(10)
while True:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        print("no close frame", flush=True); break
    if not chunk:
        print("closed without a close frame", flush=True); break
    buf += chunk
    while len(buf) >= 2:
        opcode, length = buf[0] & 0x0F, buf[1] & 0x7F
        offset = 2
        if length == 126:
            if len(buf) < 4: break
            length, offset = struct.unpack(">H", buf[2:4])[0], 4
        elif length == 127:
            if len(buf) < 10: break
            length, offset = struct.unpack(">Q", buf[2:10])[0], 10
        if len(buf) < offset + length: break
        payload, buf = buf[offset:offset + length], buf[offset + length:]
        if opcode == 8:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 0
            print(f"closed {code} {payload[2:].decode(errors='replace')}", flush=True)
            sys.exit(0)
