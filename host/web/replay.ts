/*
 * host/web/replay.ts - the browser replay page: pick a capture and rules, replay them in a
 * Worker (worker.ts → host/replay/replay.ts → host/engine.ts), show what the engine did.
 * No Node APIs; built into dist/web by host/web/build.mjs.
 */
import type { FlowRecord, ReplaySummary } from '../replay/replay.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const state: { capture?: ArrayBuffer; captureName?: string; summary?: ReplaySummary; selected?: number } = {};
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function setCapture(name: string, buf: ArrayBuffer) {
  state.capture = buf; state.captureName = name;
  $('capture-name').textContent = `${name} (${buf.byteLength} bytes)`;
}
async function takeFile(f: File) {
  const buf = await f.arrayBuffer();
  const head = new Uint8Array(buf, 0, Math.min(4, buf.byteLength));
  const magic = [...head].map((b) => b.toString(16).padStart(2, '0')).join('');
  const isCapture = /^(a1b2c3d4|d4c3b2a1|a1b23c4d|4d3cb2a1|a1b2cd34|34cdb2a1|0a0d0d0a)$/.test(magic);
  if (isCapture) setCapture(f.name, buf);
  else ($('rules') as HTMLTextAreaElement).value = new TextDecoder().decode(buf);
}

$('capture-file').addEventListener('change', (e) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f) void takeFile(f); });
$('rules-file').addEventListener('change', (e) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f) void takeFile(f); });
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault(); drop.classList.remove('over');
  for (const f of Array.from(e.dataTransfer?.files ?? [])) void takeFile(f);
});

async function loadExample(name: string) {
  // the menu shows what is loaded, also when it came from ?example=NAME
  const menu = $('example') as HTMLSelectElement;
  if (Array.from(menu.options).some((o) => o.value === name)) menu.value = name;
  const [cap, rules] = await Promise.all([fetch(`examples/${name}.pcap`), fetch(`examples/${name}.rules`)]);
  if (!cap.ok || !rules.ok) throw new Error(`example ${name} is missing`);
  setCapture(`${name}.pcap`, await cap.arrayBuffer());
  ($('rules') as HTMLTextAreaElement).value = await rules.text();
}
$('load-example').addEventListener('click', () => {
  const v = ($('example') as HTMLSelectElement).value;
  if (v) loadExample(v).catch((e) => status(String(e), true));
});

function status(text: string, err = false) {
  const s = $('status');
  s.textContent = text;
  s.className = err ? 'err' : '';
}

let worker: Worker | undefined;
function run(): Promise<void> {
  if (!state.capture) { status('no capture loaded', true); return Promise.resolve(); }
  worker ??= new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const w = worker;
  status('replaying…');
  $('run').setAttribute('disabled', '');
  document.body.dataset.state = 'running';
  return new Promise((resolve) => {
    w.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.type === 'progress') { status(`replaying… ${m.packets} packets (${Math.round((m.bytes / m.total) * 100)}%)`); return; }
      $('run').removeAttribute('disabled');
      if (m.type === 'error') { status(`${m.message}`, true); document.body.dataset.state = 'error'; resolve(); return; }
      show(m.summary, m.pcap);
      status(`done in ${m.ms.toFixed(0)} ms`);
      document.body.dataset.state = 'done';
      resolve();
    };
    const msg: ToWorker = { type: 'run', capture: state.capture!.slice(0), rules: ($('rules') as HTMLTextAreaElement).value, wasmUrl: new URL('./engine.wasm', location.href).href };
    w.postMessage(msg, [msg.capture]);
  });
}
$('run').addEventListener('click', () => void run());

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
function rows(id: string, data: (string | number)[][]) {
  const tb = $(id).querySelector('tbody')!;
  tb.replaceChildren(...data.map((r) => {
    const tr = document.createElement('tr');
    for (const c of r) { const td = document.createElement('td'); td.textContent = String(c); if (typeof c === 'number') td.className = 'n'; tr.append(td); }
    return tr;
  }));
}

let pcapUrl: string | undefined;
function show(s: ReplaySummary, pcap: Uint8Array) {
  state.summary = s;
  (window as any).__replaySummary = s;
  $('stat-packets').textContent = String(s.input.packets);
  $('stat-fed').textContent = String(s.input.fed);
  $('stat-out').textContent = String(s.output.packets);
  $('stat-dropped').textContent = String(s.output.verdicts.DROP);
  $('stat-pass').textContent = String(s.output.verdicts.PASS);
  $('stat-skipped').textContent = String(sum(s.input.skipped));
  $('stat-partial').textContent = String(s.input.partialCsum);
  $('stat-conns').textContent = String(s.conns.created);
  $('stat-timeouts').textContent = String(s.conns.timeoutsFired);
  rows('drops', Object.entries(s.output.dropReasons));
  rows('skips', Object.entries(s.input.skipped).map(([k, v]) => [k, v, `#${s.input.firstSkipped[k]}`]));
  rows('rs', s.conns.byService.flatMap((svc) => svc.dests.map((d) => [svc.service, d.rs, d.conns, d.inpkts, d.outpkts])));
  rows('transitions', Object.entries(s.conns.transitions).map(([k, v]) => [k.replace('>', ' → '), v]));
  $('table').textContent = s.table + (s.input.error ? `\nerror: ${s.input.error.message}\n` : '');
  if (pcapUrl) URL.revokeObjectURL(pcapUrl);
  pcapUrl = URL.createObjectURL(new Blob([pcap as BlobPart], { type: 'application/vnd.tcpdump.pcap' }));
  const a = $<HTMLAnchorElement>('download');
  a.href = pcapUrl; a.hidden = false;
  a.download = (state.captureName ?? 'replay').replace(/\.(pcapng|pcap|cap)$/i, '') + '.out.pcap';
  drawChart(s);
  state.selected = s.flows[0]?.id;
  drawConns();
  drawTimeline();
}

function drawChart(s: ReplaySummary) {
  const cv = $<HTMLCanvasElement>('chart');
  const g = cv.getContext('2d')!;
  const W = cv.width, H = cv.height, L = 40, B = 24, T = 18;
  g.clearRect(0, 0, W, H);
  const { counts, rs, bucketMs } = s.timeline;
  const n = Math.max(counts.length, 1);
  const max = Math.max(1, ...counts.map((c) => c.reduce((a, b) => a + b, 0)));
  const bw = (W - L - 10) / n;
  g.font = '11px sans-serif'; g.fillStyle = '#555';
  g.fillText(String(max), 4, T + 8); g.fillText('0', 4, H - B);
  g.strokeStyle = '#999'; g.beginPath(); g.moveTo(L, T); g.lineTo(L, H - B); g.lineTo(W - 10, H - B); g.stroke();
  counts.forEach((c, i) => {
    let y = H - B;
    c.forEach((v, d) => {
      const h = (v / max) * (H - B - T);
      g.fillStyle = COLORS[d % COLORS.length];
      g.fillRect(L + i * bw + 1, y - h, Math.max(1, bw - 2), h);
      y -= h;
    });
  });
  g.fillStyle = '#555';
  g.fillText(`0 s … ${((n * bucketMs) / 1000).toFixed(1)} s (${bucketMs} ms per bar)`, L, H - 6);
  let x = L + 10;
  rs.forEach((r, d) => { g.fillStyle = COLORS[d % COLORS.length]; g.fillRect(x, 4, 10, 10); g.fillStyle = '#222'; g.fillText(r, x + 14, 13); x += g.measureText(r).width + 30; });
}

function flowText(f: FlowRecord) { return `${f.proto} ${f.client} ${f.vip} ${f.rs} ${f.states[f.states.length - 1].state}`; }
function drawConns() {
  const s = state.summary;
  if (!s) return;
  const q = ($('filter') as HTMLInputElement).value.trim().toLowerCase();
  const list = s.flows.filter((f) => !q || flowText(f).toLowerCase().includes(q)).slice(0, 2000);
  const tb = $('conns').querySelector('tbody')!;
  tb.replaceChildren(...list.map((f) => {
    const tr = document.createElement('tr');
    tr.dataset.id = String(f.id);
    if (f.id === state.selected) tr.className = 'sel';
    for (const c of [f.id, f.proto, f.client, f.vip, f.rs, f.states[f.states.length - 1].state, f.packets]) {
      const td = document.createElement('td'); td.textContent = String(c); tr.append(td);
    }
    tr.addEventListener('click', () => { state.selected = f.id; drawConns(); drawTimeline(); });
    return tr;
  }));
}
$('filter').addEventListener('input', drawConns);

function drawTimeline() {
  const svg = $('timeline');
  const f = state.summary?.flows.find((x) => x.id === state.selected);
  $('flow-title').textContent = f ? `#${f.id} ${f.client} → ${f.vip} → ${f.rs}` : '';
  if (!f) { svg.replaceChildren(); return; }
  const NS = 'http://www.w3.org/2000/svg';
  const el = (tag: string, attrs: Record<string, string | number>, text?: string) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const t0 = f.states[0].ms, t1 = Math.max(f.states[f.states.length - 1].ms, t0 + 1);
  const X = (ms: number) => 20 + ((ms - t0) / (t1 - t0)) * 500;
  const kids: Element[] = [el('line', { x1: 20, y1: 70, x2: 530, y2: 70, stroke: '#999' })];
  f.states.forEach((st, i) => {
    const x = X(st.ms);
    kids.push(el('circle', { cx: x, cy: 70, r: 5, fill: COLORS[i % COLORS.length] }));
    kids.push(el('text', { x, y: i % 2 ? 100 : 50, 'text-anchor': 'middle', 'font-size': 11 }, st.state));
    kids.push(el('text', { x, y: i % 2 ? 114 : 36, 'text-anchor': 'middle', 'font-size': 10, fill: '#666' }, `+${(st.ms - t0).toFixed(1)} ms`));
  });
  svg.replaceChildren(...kids);
}

// deep link for tests and demos: ?example=demo&run=1
const params = new URLSearchParams(location.search);
if (params.get('example')) {
  loadExample(params.get('example')!).then(() => (params.get('run') ? run() : undefined)).catch((e) => status(String(e), true));
}
(window as any).__replayRun = run;
