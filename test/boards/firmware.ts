// The bytes each generation of the board firmware sends, as its source builds them (printf formats,
// header order and spelling kept exactly). What a board can change without new code is its build
// settings: TARGET_SERVER_IP, TARGET_PORT, TARGET_PATH and (where it has one) API_KEY.

export interface Generation {
  name: string;
  /** Where the firmware comes from and what it does (for the README's board section). */
  source: string;
  /** The request a board of this generation sends for one reading. */
  request(settings: { ip: string; port: number; path: string; key: string }): string;
  /** The device its readings land on, given its settings (null: the server decides). */
  sensorId: string | null;
}

/** The Pico's unique board id, as pico_get_unique_board_id_string prints it. */
export const BOARD_ID = "E6614103E7452D2F";

const request = (head: string[], body: string) => `${head.join("\r\n")}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;

export const GENERATIONS: Generation[] = [
  {
    name: "WiFi (Pico W)",
    source: "thalyssonDEV/sensorflow-firmware: lwIP, x-api-key header, 1,024-byte request buffer, humidity and pressure in quotes",
    sensorId: BOARD_ID,
    request: ({ ip, path, key }) => {
      const body = `{"temperature":24.31, "humidity":"55.20", "pressure":"1013.25", "sensor_id":"${BOARD_ID}"}`;
      return `POST ${path} HTTP/1.1\r\nHost: ${ip}\r\nx-api-key: ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    },
  },
  {
    name: "Ethernet v1 (W5500)",
    source: "sensorflow-firmware-ethernet 8c1609e/27c16f9: API-Key header, Host with or without the port, humidity and sensor_id",
    sensorId: BOARD_ID,
    request: ({ ip, port, path, key }) =>
      request(
        [`POST ${path} HTTP/1.1`, `Host: ${ip}:${port}`, "Content-Type: application/json"],
        `{"temperature":24.31,"humidity":55.20,"pressure":1013.25,"sensor_id":"${BOARD_ID}"}`,
      ).replace("\r\nConnection: close", `\r\nAPI-Key: ${key}\r\nConnection: close`),
  },
  {
    name: "Ethernet v2 (W5500)",
    source: "sensorflow-firmware-ethernet a23cbcb: API-Key header, humidity beside the four CIP values",
    sensorId: null,
    request: ({ ip, path, key }) =>
      request(
        [`POST ${path} HTTP/1.1`, `Host: ${ip}`, "Content-Type: application/json"],
        '{"temperature":75.50,"humidity":40.00,"pressure":2.30,"concentration":0.80, "flow":1.20}',
      ).replace("\r\nConnection: close", `\r\nAPI-Key: ${key}\r\nConnection: close`),
  },
  {
    name: "Ethernet current (W5500/W5100)",
    source: "sensorflow-firmware-ethernet a9c158a and later: no key header at all, 2,048-byte request buffer",
    sensorId: null,
    request: ({ ip, path }) =>
      request([`POST ${path} HTTP/1.1`, `Host: ${ip}`, "Content-Type: application/json"], '{"temperature":75.50,"pressure":2.30,"concentration":0.80, "flow":1.20}'),
  },
];

/** The current firmware's request buffer (HTTP_REQUEST_BUF_SIZE): snprintf refuses a request of this size or more. */
export const REQUEST_BUFFER = 2048;
/** The firmware reads the answer into HTTP_RESPONSE_BUF_SIZE - 1 bytes. */
export const RESPONSE_BUFFER = 1024;
