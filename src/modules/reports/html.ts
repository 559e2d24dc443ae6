// The printable cycle report: one self-contained page (inline styles only, no scripts), A4-friendly.
import { METRICS } from "../cycles/model";
import type { CycleReport, Verdict } from "./service";

const escape = (text: unknown) =>
  String(text ?? "–").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const num = (n: number | null | undefined) => (n === null || n === undefined ? "–" : String(Math.round(n * 100) / 100));
const badge = (v: Verdict | "n/a") => `<span class="v ${v === "n/a" ? "na" : v.toLowerCase()}">${v}</span>`;

export function reportHtml(r: CycleReport): string {
  const phases = r.phases
    .map(
      (p) => `
  <section>
    <h2>${escape(p.name)} ${badge(p.verdict)}</h2>
    <p>${p.started_at ? `${escape(p.started_at)} → ${escape(p.ended_at)}` : "not run"} · duration ${num(p.duration_s)} s ·
       within limits ${num(p.time_within_limits_s)} s of ${num(p.min_duration_s)} s required · ${p.readings} readings (phase ${p.source}) ·
       ${p.alarms} alarm(s)${p.reasons.length ? ` · ${escape(p.reasons.join("; "))}` : ""}</p>
    <table>
      <tr><th>metric</th><th>min</th><th>avg</th><th>max</th><th>limits</th><th>caution band</th><th>s out of limits</th><th>s sensor failed</th><th>verdict</th></tr>
      ${METRICS.map((m) => {
        const x = p.metrics[m];
        return `<tr><td>${m} (${escape(r.units[m])})</td><td>${num(x.min)}</td><td>${num(x.avg)}</td><td>${num(x.max)}</td>
        <td>${x.limit ? `${num(x.limit.min)} … ${num(x.limit.max)}` : "–"}</td><td>${x.caution ? `${num(x.caution.min)} … ${num(x.caution.max)}` : "–"}</td>
        <td>${num(x.seconds_out_of_limits)}</td><td>${num(x.fault_s)}</td><td>${badge(x.verdict)}</td></tr>`;
      }).join("")}
    </table>
  </section>`,
    )
    .join("");
  const alarms = r.alarms.length
    ? `<table><tr><th>phase</th><th>metric</th><th>value</th><th>limits</th><th>out since</th><th>raised</th><th>cleared</th></tr>
      ${r.alarms.map((a) => `<tr><td>${escape(a.phase)}</td><td>${a.metric}</td><td>${num(a.value)}</td><td>${num(a.min)} … ${num(a.max)}</td><td>${escape(a.out_since)}</td><td>${escape(a.raised_at)}</td><td>${escape(a.cleared_at)}</td></tr>`).join("")}</table>`
    : "<p>None.</p>";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cycle report ${escape(r.report_number)}</title>
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 24px; color: #111; }
  h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 18px 0 4px; }
  table { border-collapse: collapse; width: 100%; margin: 6px 0; } th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; }
  th { background: #eef1f4; } .meta td:first-child { width: 180px; color: #444; }
  .v { font-weight: bold; padding: 1px 8px; border-radius: 3px; color: #fff; } .pass { background: #1b8a3a; } .caution { background: #b7791f; } .fail { background: #b42318; } .na { background: #999; }
  .provisional { border: 2px dashed #b7791f; padding: 6px 10px; color: #7a4f0f; font-weight: bold; }
  @media print { body { margin: 0; } section { break-inside: avoid; } }
</style></head>
<body>
  <h1>CIP cycle report ${escape(r.report_number)} ${badge(r.verdict)}</h1>
  ${r.provisional ? '<p class="provisional">PROVISIONAL: the cycle is still open; this report will change.</p>' : ""}
  <table class="meta">
    <tr><td>device</td><td>${escape(r.device)}</td></tr>
    <tr><td>cycle (cip_id)</td><td>${r.cip_id}</td></tr>
    <tr><td>recipe</td><td>${r.recipe ? `${escape(r.recipe.name)}, version ${escape(r.recipe.version)}` : "none assigned"}</td></tr>
    <tr><td>cycle</td><td>${escape(r.cycle.started_at)} → ${escape(r.cycle.ended_at ?? "open")} (${num(r.cycle.duration_s)} s, ${r.cycle.readings} readings)</td></tr>
    <tr><td>alarm debounce</td><td>${r.debounce_s} s</td></tr>
    <tr><td>generated</td><td>${escape(r.generated_at)}</td></tr>
    <tr><td>SHA-256 of readings</td><td><code>${r.readings_sha256}</code></td></tr>
  </table>
  ${phases}
  <h2>Alarms</h2>
  ${alarms}
</body></html>`;
}
