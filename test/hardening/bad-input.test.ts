// Whatever arrives, the server answers a documented 4xx with the JSON error shape and stays healthy.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { INGEST_KEY, READING, post, rawHttp, start, type Running } from "../helpers";

setDefaultTimeout(30_000); // for this file only: Bun applies it per file (test/setup.ts)

let server: Running;
beforeAll(async () => {
  server = await start({ MAX_BODY_BYTES: "131072" });
});
afterAll(() => server.stop());

const DOCUMENTED = [400, 401, 403, 404, 413, 415, 422, 429];

async function expectRefused(response: Response, statuses = DOCUMENTED) {
  expect(statuses).toContain(response.status);
  const body = await response.json();
  expect(typeof body.error).toBe("string");
  expect(typeof body.message).toBe("string");
  return body;
}

async function healthy() {
  expect((await fetch(`${server.url}/health`)).status).toBe(200);
}

describe("a bad-input battery against the live server", () => {
  test("malformed and truncated bodies", async () => {
    for (const body of ["", "{", "[", '{"temperature":}', '{"temperature":75.5,', "null", '"text"', "123", "true", "{}{}", "{\"temperature\":75.5}}"]) {
      await expectRefused(await post(`${server.url}/sensor_data`, body), [400, 422]);
    }
    // A byte-order mark before the JSON is harmless: it is read like any other body.
    expect((await post(`${server.url}/sensor_data`, "\uFEFF" + JSON.stringify(READING))).status).toBe(201);
    await healthy();
  });

  test("every spelling of a failed sensor is kept as a fault; other non-numbers are refused", async () => {
    for (const spelling of ["nan", "NaN", "-nan", "nan(ind)", "inf", "-inf", "Infinity", "-Infinity", '"nan"', '"-inf"']) {
      const body = `{"temperature":${spelling},"pressure":2.30,"concentration":0.80, "flow":1.20}`;
      const response = await post(`${server.url}/sensor_data`, body);
      expect(response.status, spelling).toBe(201);
      expect(await response.json()).toMatchObject({ temperature: null, pressure: 2.3, faults: ["temperature"] });
    }
    for (const spelling of ["1e999", "-1e999", "0x10", "+1", ".5", "1.", "01", "nana", "information"]) {
      const body = `{"temperature":${spelling},"pressure":2.30,"concentration":0.80, "flow":1.20}`;
      const refused = await expectRefused(await post(`${server.url}/sensor_data`, body), [400, 422]);
      expect(refused.details?.[0]?.field ?? "temperature").toBe("temperature");
    }
    await healthy();
  });

  test("wrong types in every field", async () => {
    for (const field of ["temperature", "pressure", "concentration", "flow"]) {
      for (const value of [true, [], {}, [75], { value: 75 }, "75 °C"]) {
        const body = await expectRefused(await post(`${server.url}/sensor_data`, { ...READING, [field]: value }), [422]);
        expect(body.details[0].field).toBe(field);
      }
      // The device path takes numbers only; the original path also takes the quoted digits older firmware sends.
      const strict = await expectRefused(await post(`${server.url}/api/devices/line-1/readings`, { ...READING, [field]: "75" }), [422]);
      expect(strict.details[0].field).toBe(field);
      const quoted = await post(`${server.url}/sensor_data`, { ...READING, [field]: " 75.50" });
      expect(quoted.status).toBe(201);
      expect((await quoted.json())[field]).toBe(75.5);
    }
    await healthy();
  });

  test("unicode and control characters in device ids and bodies", async () => {
    for (const device of ["l%C3%ADnea-1", "a%00b", "..%2F..%2Fetc", "%0Aline", "line%20one", "-x", "x".repeat(65)]) {
      await expectRefused(await post(`${server.url}/api/devices/${device}/readings`, READING), [404, 422]);
    }
    // A raw control character inside a JSON string is not JSON (400); an escaped one is a string (422).
    await expectRefused(await post(`${server.url}/sensor_data`, '{"temperature":"\u0000\u202e75"}'), [400]);
    await expectRefused(await post(`${server.url}/sensor_data`, '{"temperature":"\\u0000\\u202e75"}'), [422]);
    const accepted = await post(`${server.url}/sensor_data`, { ...READING, note: "linha ☃ \u0007" });
    expect(accepted.status).toBe(201);
    await healthy();
  });

  test("arrays: 1,000 readings are fine, 1,001 or none are refused, deep nesting is refused cheaply", async () => {
    expect((await post(`${server.url}/api/devices/line-1/readings`, Array(1000).fill(READING))).status).toBe(201);
    await expectRefused(await post(`${server.url}/api/devices/line-1/readings`, Array(1001).fill(READING)), [422]);
    await expectRefused(await post(`${server.url}/api/devices/line-1/readings`, []), [422]);
    const deep = "[".repeat(60_000) + "]".repeat(60_000);
    expect((await expectRefused(await post(`${server.url}/api/devices/line-1/readings`, deep), [400])).error).toBe("too_deep");
    const deepObject = '{"a":'.repeat(20_000) + "1" + "}".repeat(20_000);
    expect((await expectRefused(await post(`${server.url}/sensor_data`, deepObject), [400])).error).toBe("too_deep");
    // Nested values inside an ignored extra field are still bounded.
    expect((await post(`${server.url}/sensor_data`, { ...READING, extra: { a: { b: [1, [2]] } } })).status).toBe(201);
    await healthy();
  });

  test("oversized bodies, declared or chunked, get 413", async () => {
    await expectRefused(await post(`${server.url}/sensor_data`, "x".repeat(200_000)), [413]);
    const chunk = "x".repeat(150_000);
    const reply = await rawHttp(
      server.port,
      `POST /sensor_data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: ${INGEST_KEY}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
        `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    expect(reply.slice(0, 12)).toBe("HTTP/1.1 413");
    await healthy();
  });

  test("a body of 2 MB or 50 MB, declared or chunked, gets the same 413 in the JSON shape (not the runtime's empty one)", async () => {
    for (const size of [2 * 1024 * 1024, 50 * 1024 * 1024]) {
      const declared = await post(`${server.url}/sensor_data`, "x".repeat(size));
      expect(declared.status).toBe(413);
      expect((await declared.json()).error).toBe("body_too_large");
      // Chunked: no length is declared, so the server stops reading once the limit is passed.
      const chunks = Math.ceil(size / (1024 * 1024));
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < chunks; i++) controller.enqueue(new Uint8Array(1024 * 1024).fill(120));
          controller.close();
        },
      });
      const chunked = await fetch(`${server.url}/api/devices/line-1/readings`, { method: "POST", headers: { "content-type": "application/json", "x-api-key": INGEST_KEY }, body });
      expect(chunked.status).toBe(413);
      expect((await chunked.json()).error).toBe("body_too_large");
    }
    await healthy();
  }, 30_000);

  test("wrong methods and unknown paths", async () => {
    for (const [method, path] of [["PUT", "/sensor_data"], ["DELETE", "/api/devices"], ["PATCH", "/health"], ["GET", "/etc/passwd"], ["GET", "/api/devices/x/../../secret"]]) {
      await expectRefused(await fetch(server.url + path!, { method }), [404, 405]);
    }
    await healthy();
  });

  test("HTTP/1.0 without Host and pipelined requests are answered one by one", async () => {
    const body = JSON.stringify(READING);
    const old = await rawHttp(server.port, `POST /sensor_data HTTP/1.0\r\nContent-Type: application/json\r\nX-API-Key: ${INGEST_KEY}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(old).toMatch(/^HTTP\/1\.[01] (201|400)/);
    const one = `POST /sensor_data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: ${INGEST_KEY}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const bad = `POST /sensor_data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: ${INGEST_KEY}\r\nContent-Length: 3\r\n\r\nnan`;
    const last = `GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    const replies = await rawHttp(server.port, one + bad + one + last);
    expect([...replies.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1])).toEqual(["201", "400", "201", "200"]);
    await healthy();
  });
});
