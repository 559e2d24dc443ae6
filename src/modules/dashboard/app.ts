// The dashboard, in the browser. Served transpiled by the server itself; uPlot (a small, fast
// time-series chart library) is bundled beside it, so no request ever leaves the server.
import type uPlotType from "uplot";

declare const uPlot: typeof uPlotType;

type Metric = "temperature" | "pressure" | "concentration" | "flow";
type BoardState = "online" | "silent" | "idle";
const METRICS: Metric[] = ["temperature", "pressure", "concentration", "flow"];
interface Reading extends Record<Metric, number | null> {
  phase?: string | null;
  /** Metrics whose sensor failed in this reading (their value is null). */
  faults?: Metric[];
  timestamp: string;
  cip_id: number;
  device: string;
  seq: number;
}
interface Stats {
  min: number | null;
  avg: number | null;
  max: number | null;
}
interface Cycle extends Record<Metric, Stats> {
  verdict?: "PASS" | "CAUTION" | "FAIL";
  cip_id: number;
  open: boolean;
  started_at: string;
  duration_s: number;
  readings: number;
}
interface DeviceSummary {
  device: string;
  state: BoardState;
  cip_id: number;
  cycle_started: string;
  latest: Reading;
}

const TEXT = {
  en: {
    live: "Live", cycles: "Cycles", changeKey: "Change key", keyPrompt: "Read key (API_KEY_WS)", connect: "Connect",
    temperature: "Temperature", pressure: "Pressure", concentration: "Concentration", flow: "Flow",
    phase: "phase", cycle: "Cycle", verdict: "Verdict", alarm: "ALARM", below: "below", above: "above", inPhase: "in", running: "running for", lastReading: "last reading", started: "Started", duration: "Duration",
    readingsCount: "Readings", downloadCsv: "Download CSV", ago: "ago", open: "open",
    wrongKey: "Wrong key: the server did not accept it. Check API_KEY_WS.",
    refused: "This server only answers its own machine until a key is set (API_KEY_WS).",
    noDevices: "No device has posted a reading yet.",
    sensorFailed: "sensor failed", failed: "FAILED", boardSilent: "board silent since", stateUnknown: "state unknown since",
    board: "board", board_online: "online", board_silent: "silent", board_idle: "idle",
    state_live: "Live", state_connecting: "Connecting…", state_disconnected: "Disconnected — reconnecting…", state_replaying: "Catching up…",
  },
  "pt-BR": {
    live: "Ao vivo", cycles: "Ciclos", changeKey: "Trocar chave", keyPrompt: "Chave de leitura (API_KEY_WS)", connect: "Conectar",
    temperature: "Temperatura", pressure: "Pressão", concentration: "Concentração", flow: "Vazão",
    phase: "fase", cycle: "Ciclo", verdict: "Resultado", alarm: "ALARME", below: "abaixo de", above: "acima de", inPhase: "em", running: "em andamento há", lastReading: "última leitura", started: "Início", duration: "Duração",
    readingsCount: "Leituras", downloadCsv: "Baixar CSV", ago: "atrás", open: "aberto",
    wrongKey: "Chave incorreta: o servidor não a aceitou. Verifique API_KEY_WS.",
    refused: "Este servidor só responde à própria máquina até que uma chave seja definida (API_KEY_WS).",
    noDevices: "Nenhum dispositivo enviou leituras ainda.",
    sensorFailed: "sensor com falha", failed: "FALHA", boardSilent: "placa sem comunicação desde", stateUnknown: "estado desconhecido desde",
    board: "placa", board_online: "comunicando", board_silent: "sem comunicação", board_idle: "ociosa",
    state_live: "Ao vivo", state_connecting: "Conectando…", state_disconnected: "Desconectado — reconectando…", state_replaying: "Atualizando…",
  },
} as const;
type Lang = keyof typeof TEXT;
type Key = keyof (typeof TEXT)["en"];

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const WINDOW_S = 10 * 60; // the live charts show the last ten minutes

let lang: Lang = (localStorage.getItem("sensorflow.lang") as Lang | null) ?? (navigator.language.toLowerCase().startsWith("pt") ? "pt-BR" : "en");
const t = (key: Key) => TEXT[lang][key];
let key = localStorage.getItem("sensorflow.key") ?? "";
let device = "";
let latest: Reading | undefined;
let cycleStarted = 0;
let summaries: DeviceSummary[] = [];
let lastSeq = 0;
let socket: WebSocket | undefined;
let retry = 0;
const series: Record<Metric, [number[], (number | null)[]]> = { temperature: [[], []], pressure: [[], []], concentration: [[], []], flow: [[], []] };
const charts: Partial<Record<Metric, uPlotType>> = {};
interface AlarmFrame {
  kind?: "limit" | "sensor.fault" | "board.silent";
  metric: Metric | null;
  phase: string | null;
  min: number | null;
  max: number | null;
  value: number | null;
  out_since: string;
  unknown_since?: string;
}
let activeAlarms: AlarmFrame[] = [];
let boardState: BoardState = "idle";
const alarmKey = (a: AlarmFrame) => `${a.kind ?? "limit"}/${a.metric}/${a.phase}`;
const clock = (iso: string) => new Date(iso).toLocaleTimeString(lang);

function describeAlarm(a: AlarmFrame): string {
  if (a.kind === "board.silent") return `${t("alarm")}: ${t("boardSilent")} ${clock(a.out_since)}`;
  if (a.kind === "sensor.fault") return `${t("alarm")}: ${t(a.metric!)} — ${t("sensorFailed")}`;
  const side = a.min !== null && a.value !== null && a.value < a.min ? `${t("below")} ${a.min}` : `${t("above")} ${a.max}`;
  // While the board is silent, an old alarm is not a current condition: say so.
  const unknown = a.unknown_since ? ` — ${t("stateUnknown")} ${clock(a.unknown_since)}` : "";
  return `${t("alarm")}: ${t(a.metric!)} ${a.value} ${side} (${t("inPhase")} ${a.phase})${unknown}`;
}

function renderAlarms() {
  const box = $("alarms");
  box.hidden = activeAlarms.length === 0;
  box.textContent = activeAlarms.map(describeAlarm).join(" · ");
  const silent = activeAlarms.some((a) => a.kind === "board.silent");
  const state = $("board-state");
  state.dataset.state = silent ? "silent" : boardState;
  state.textContent = t(`board_${silent ? "silent" : boardState}`);
}

function translate() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll<HTMLElement>("[data-i18n]")) el.textContent = t(el.dataset.i18n as Key);
  $<HTMLSelectElement>("lang").value = lang;
  setStatus(($("status").dataset.state ?? "connecting") as "connecting");
}

function setStatus(state: "live" | "connecting" | "disconnected" | "replaying") {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = t(`state_${state}`);
}

const headers = () => (key ? { "x-api-key": key } : undefined);
async function api<T>(path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(path, { headers: headers() });
  return { status: response.status, body: (await response.json()) as T };
}

function showKeyForm(message = "") {
  $("key-form").hidden = false;
  $("live").hidden = true;
  $("cycles").hidden = true;
  $("key-error").textContent = message;
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}

function chart(metric: Metric, host: HTMLElement, data: [number[], (number | null)[]]): uPlotType {
  const width = Math.max(300, (host.clientWidth || 476) - 16);
  const options = {
    title: t(metric),
    width,
    height: 180,
    series: [{}, { label: t(metric), stroke: "#0b6bcb", width: 2, points: { show: false } }],
    axes: [{}, { size: 50 }],
    scales: { x: { time: true } },
  };
  return new uPlot(options, data, host);
}

/** One chart per metric; the boxes go in first so each chart takes its own grid cell's width. */
function drawCharts(host: HTMLElement, data: (metric: Metric) => [number[], (number | null)[]]) {
  host.replaceChildren();
  const boxes = METRICS.map((metric) => {
    const box = document.createElement("div");
    box.dataset.chart = metric;
    host.append(box);
    return box;
  });
  return METRICS.map((metric, i) => chart(metric, boxes[i]!, data(metric)));
}

function drawLiveCharts() {
  drawCharts($("charts"), (metric) => series[metric]).forEach((plot, i) => (charts[METRICS[i]!] = plot));
}

function addReading(r: Reading) {
  if (r.device !== device || r.seq <= lastSeq) return;
  lastSeq = r.seq;
  // A new cycle starts with the reading that opens it.
  if (latest && r.cip_id !== latest.cip_id) cycleStarted = Date.parse(r.timestamp);
  latest = r;
  const x = Date.parse(r.timestamp) / 1000;
  for (const metric of METRICS) {
    const [xs, ys] = series[metric];
    xs.push(x);
    ys.push(r[metric]);
    while (xs.length > 0 && xs[0]! < x - WINDOW_S) xs.shift(), ys.shift();
    charts[metric]?.setData(series[metric]);
  }
  renderLatest();
}

function renderLatest() {
  if (!latest) return;
  for (const metric of METRICS) {
    const card = document.querySelector<HTMLElement>(`.card[data-metric="${metric}"]`);
    const value = card?.querySelector(".value");
    const failed = latest.faults?.includes(metric) ?? false;
    // A failed sensor is shown as failed, never as its last good number.
    if (card) card.dataset.failed = String(failed);
    const current = latest[metric];
    if (value) value.textContent = failed ? t("failed") : current === null ? "–" : current.toFixed(2);
  }
  $("cycle").textContent = String(latest.cip_id);
  $("phase").textContent = latest.phase ?? "–";
  $("phase-label").hidden = latest.phase === undefined;
  const now = Date.now();
  $("running").textContent = duration((now - cycleStarted) / 1000);
  $("age").textContent = `${duration((now - Date.parse(latest.timestamp)) / 1000)} ${t("ago")}`;
}

function follow() {
  socket?.close();
  setStatus(lastSeq > 0 ? "replaying" : "connecting");
  const since = lastSeq;
  const url = new URL(`/ws?topics=devices/${encodeURIComponent(device)}${since > 0 ? `&since=${since}` : ""}`, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (key) url.searchParams.set("api-key", key);
  const ws = new WebSocket(url);
  socket = ws;
  ws.onmessage = (event) => {
    const frame = JSON.parse(String(event.data)) as { type: string; seq: number } & Partial<Reading>;
    if (frame.type === "welcome") {
      // With since=, the server replays what was missed and then says "replayed": live from there.
      setStatus(since > 0 ? "replaying" : "live");
    } else if (frame.type === "replayed") {
      setStatus("live");
    } else if (frame.type === "reading") {
      boardState = "online";
      addReading(frame as Reading);
      renderAlarms();
    } else if (frame.type === "alarm.raised") {
      const raised = frame as unknown as AlarmFrame;
      if (raised.kind === "board.silent") for (const a of activeAlarms) a.unknown_since = raised.out_since;
      activeAlarms.push(raised);
      renderAlarms();
    } else if (frame.type === "alarm.cleared") {
      const cleared = frame as unknown as AlarmFrame;
      activeAlarms = activeAlarms.filter((a) => alarmKey(a) !== alarmKey(cleared));
      if (cleared.kind === "board.silent") for (const a of activeAlarms) delete a.unknown_since;
      renderAlarms();
    } else if (frame.type === "cycle.opened" || frame.type === "cycle.closed" || frame.type === "cycle.verdict") {
      if (!$("cycles").hidden) void loadCycles();
    }
  };
  ws.onopen = () => (retry = 0);
  ws.onclose = () => {
    if (socket !== ws) return;
    setStatus("disconnected");
    retry = Math.min(retry + 1, 5);
    setTimeout(follow, 300 * retry);
  };
}

async function loadHistory() {
  for (const metric of METRICS) series[metric] = [[], []];
  latest = undefined;
  lastSeq = 0;
  const from = Date.now() - WINDOW_S * 1000;
  const history = await api<{ readings: Reading[] }>(`/api/devices/${encodeURIComponent(device)}/readings?from=${from}&limit=10000`);
  if (history.status === 200) for (const r of history.body.readings) addReading(r);
  // Nothing in the last ten minutes (or no history kept): still show the latest values.
  if (!latest) {
    const one = await api<Reading>(`/api/devices/${encodeURIComponent(device)}/latest`);
    if (one.status === 200) addReading(one.body);
  }
  drawLiveCharts();
}

async function loadCycles() {
  const { body } = await api<{ cycles: Cycle[] }>(`/api/devices/${encodeURIComponent(device)}/cycles`);
  const rows = $("cycle-rows");
  rows.replaceChildren();
  const stat = (s: Stats) => (s.min === null ? "–" : `${s.min.toFixed(1)} / ${s.avg!.toFixed(1)} / ${s.max!.toFixed(1)}`);
  for (const c of body.cycles) {
    const tr = document.createElement("tr");
    tr.dataset.cycle = String(c.cip_id);
    for (const text of [String(c.cip_id), new Date(c.started_at).toLocaleString(lang), duration(c.duration_s), String(c.readings), stat(c.temperature), stat(c.concentration), stat(c.flow)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    const verdict = document.createElement("td");
    if (c.verdict) {
      const badge = document.createElement("span");
      badge.className = `verdict ${c.verdict}`;
      badge.textContent = c.verdict;
      verdict.append(badge);
    } else verdict.textContent = c.open ? t("open") : "–";
    tr.append(verdict);
    tr.onclick = () => void showCycle(c.cip_id);
    rows.append(tr);
  }
}

async function showCycle(cipId: number) {
  const base = `/api/devices/${encodeURIComponent(device)}/cycles/${cipId}/readings`;
  const { status, body } = await api<{ readings: Reading[] }>(base);
  $("cycle-detail").hidden = false;
  $("cycle-title").textContent = `${t("cycle")} ${cipId}`;
  const csv = new URL(base, location.href);
  csv.searchParams.set("format", "csv");
  if (key) csv.searchParams.set("api-key", key);
  $<HTMLAnchorElement>("cycle-csv").href = csv.pathname + csv.search;
  if (status !== 200) return void $("cycle-charts").replaceChildren();
  const xs = body.readings.map((r) => Date.parse(r.timestamp) / 1000);
  drawCharts($("cycle-charts"), (metric) => [xs, body.readings.map((r) => r[metric])]);
}

async function selectDevice(name: string) {
  device = name;
  const alarms = await api<{ alarms: AlarmFrame[] }>(`/api/devices/${encodeURIComponent(name)}/alarms?active=true`);
  activeAlarms = alarms.status === 200 ? alarms.body.alarms : [];
  renderAlarms();
  const summary = summaries.find((d) => d.device === name);
  boardState = summary?.state ?? "idle";
  renderAlarms();
  cycleStarted = summary ? Date.parse(summary.cycle_started) : Date.now();
  $<HTMLSelectElement>("device").value = name;
  await loadHistory();
  follow();
  if (!$("cycles").hidden) await loadCycles();
}

async function start() {
  const { status, body } = await api<{ devices: DeviceSummary[]; error?: string }>("/api/devices");
  if (status === 401) return showKeyForm(key ? t("wrongKey") : "");
  if (status === 403) return showKeyForm(t("refused"));
  $("key-form").hidden = true;
  $("live").hidden = false;
  summaries = body.devices;
  const select = $<HTMLSelectElement>("device");
  select.replaceChildren(...body.devices.map((d) => new Option(d.device, d.device)));
  if (body.devices.length === 0) {
    $("age").textContent = t("noDevices");
    setTimeout(start, 2000); // show the first device as soon as it posts
    return;
  }
  await selectDevice(device && body.devices.some((d) => d.device === device) ? device : body.devices[0]!.device);
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  key = $<HTMLInputElement>("key").value.trim();
  localStorage.setItem("sensorflow.key", key);
  void start();
});
$("forget-key").addEventListener("click", () => {
  localStorage.removeItem("sensorflow.key");
  key = "";
  socket?.close();
  showKeyForm();
});
$("lang").addEventListener("change", () => {
  lang = $<HTMLSelectElement>("lang").value as Lang;
  localStorage.setItem("sensorflow.lang", lang);
  translate();
  if (device) drawLiveCharts();
});
$("device").addEventListener("change", () => void selectDevice($<HTMLSelectElement>("device").value));
$("tab-live").addEventListener("click", () => {
  $("live").hidden = false;
  $("cycles").hidden = true;
  $("tab-live").classList.add("active");
  $("tab-cycles").classList.remove("active");
});
$("tab-cycles").addEventListener("click", () => {
  $("live").hidden = true;
  $("cycles").hidden = false;
  $("tab-cycles").classList.add("active");
  $("tab-live").classList.remove("active");
  void loadCycles();
});
setInterval(renderLatest, 1000);
translate();
void start();
