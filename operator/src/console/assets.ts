/**
 * The console's own static files (stylesheet and the small script that draws the chart and
 * submits filters), served from memory under /static/; uPlot is served from its npm package —
 * no CDN, so the console works on a closed network and the CSP stays `'self'`.
 */
export const CONSOLE_CSS = `
body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:.6rem 1rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#fff;text-decoration:none}header a.current{text-decoration:underline}
header .who{margin-left:auto;font-size:.85rem;opacity:.85}
header form{display:inline;margin:0}
main{padding:1rem 1.5rem}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eaeef2}
.Succeeded{color:#1a7f37}.Failed{color:#cf222e;font-weight:bold}.Skipped{color:#9a6700}.DryRun{color:#0969da}
.note{color:#57606a;font-size:.85rem}
.notice{background:#fff8c5;border:1px solid #d4a72c;padding:.6rem;margin:.6rem 0}
.error{background:#ffebe9;border:1px solid #cf222e;padding:.6rem;margin:.6rem 0}
form.filters{display:flex;gap:.6rem;flex-wrap:wrap;margin:.6rem 0}
#chart{background:#fff;margin:.6rem 0;min-height:220px}
textarea{width:100%;font-family:monospace}
code{font-size:.85rem}
`;

export const CONSOLE_JS = `
(function () {
  var data = document.getElementById('chart-data');
  var el = document.getElementById('chart');
  if (!data || !el || typeof uPlot === 'undefined') return;
  var d = JSON.parse(data.textContent);
  var colors = { Succeeded: '#1a7f37', Failed: '#cf222e', Skipped: '#9a6700', DryRun: '#0969da' };
  var series = [{}].concat(d.series.map(function (s) { return { label: s.result, stroke: colors[s.result] || '#57606a', width: 2 }; }));
  var opts = { width: Math.max(320, el.clientWidth || 900), height: 220, series: series, axes: [{}, { label: 'outcomes / min' }] };
  new uPlot(opts, [d.times].concat(d.series.map(function (s) { return s.counts; })), el);
  el.setAttribute('data-drawn', 'true');
})();
`;
