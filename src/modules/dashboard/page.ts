// The dashboard page. Its script and styles come from this server too (see index.ts).
export const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>SensorFlow</title>
  <link rel="icon" href="/favicon.ico">
  <link rel="stylesheet" href="/dashboard/uplot.css">
  <link rel="stylesheet" href="/dashboard/style.css">
</head>
<body>
  <header>
    <h1>SensorFlow</h1>
    <select id="device" aria-label="device"></select>
    <nav>
      <button id="tab-live" class="tab active" data-i18n="live"></button>
      <button id="tab-cycles" class="tab" data-i18n="cycles"></button>
    </nav>
    <span id="status" class="status" data-state="connecting"></span>
    <select id="lang" aria-label="language">
      <option value="en">English</option>
      <option value="pt-BR">Português (Brasil)</option>
    </select>
    <button id="forget-key" data-i18n="changeKey"></button>
  </header>

  <form id="key-form" hidden>
    <label for="key" data-i18n="keyPrompt"></label>
    <input id="key" type="password" autocomplete="off">
    <button type="submit" data-i18n="connect"></button>
    <p id="key-error" class="error" role="alert"></p>
  </form>

  <main id="live" hidden>
    <section class="cards">
      <div class="card" data-metric="temperature"><h2 data-i18n="temperature"></h2><p><span class="value">–</span> <span class="unit" data-unit="temperature">°C</span></p></div>
      <div class="card" data-metric="pressure"><h2 data-i18n="pressure"></h2><p><span class="value">–</span> <span class="unit" data-unit="pressure">bar</span></p></div>
      <div class="card" data-metric="concentration"><h2 data-i18n="concentration"></h2><p><span class="value">–</span> <span class="unit" data-unit="concentration">%</span></p></div>
      <div class="card" data-metric="flow"><h2 data-i18n="flow"></h2><p><span class="value">–</span> <span class="unit" data-unit="flow">m³/h</span></p></div>
    </section>
    <div id="alarms" class="alarms" role="alert" hidden></div>
    <p class="meta">
      <span data-i18n="cycle"></span> <strong id="cycle">–</strong> ·
      <span id="phase-label" hidden><span data-i18n="phase"></span> <strong id="phase">–</strong> ·</span>
      <span data-i18n="running"></span> <strong id="running">–</strong> ·
      <span data-i18n="lastReading"></span> <strong id="age">–</strong> ·
      <span data-i18n="board"></span> <strong id="board-state" class="board-state">–</strong>
    </p>
    <div id="charts" class="charts"></div>
  </main>

  <main id="cycles" hidden>
    <table>
      <thead><tr>
        <th data-i18n="cycle"></th><th data-i18n="started"></th><th data-i18n="duration"></th><th data-i18n="readingsCount"></th>
        <th data-i18n="temperature"></th><th data-i18n="concentration"></th><th data-i18n="flow"></th><th data-i18n="verdict"></th>
      </tr></thead>
      <tbody id="cycle-rows"></tbody>
    </table>
    <section id="cycle-detail" hidden>
      <h2 id="cycle-title"></h2>
      <a id="cycle-csv" download data-i18n="downloadCsv"></a>
      <div id="cycle-charts" class="charts"></div>
    </section>
  </main>
  <script src="/dashboard/uplot.js"></script>
  <script src="/dashboard/app.js"></script>
</body>
</html>
`;
