// oryx console: polls the api-lb (the page's own origin, so it also works behind a static site's
// prefix proxy) and renders roles, workers and streams; previews a stream over WHEP. Text only ever
// enters the page through textContent.
'use strict';

const API = new URL('../api/v1/', location.href);
const POLL_MS = 2000;
const TOKEN_KEY = 'oryx-console-auth';
let scheme = 'Bearer';
let timer = null;
let preview = null;
let lastConsole = null;
let previewOpened = false;

const $ = id => document.getElementById(id);

// A `#token=…` fragment (never sent to a server) signs in once and is then removed from the URL.
(function takeFragmentToken() {
  const match = location.hash.match(/^#token=(.+)$/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, 'Bearer ' + decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
})();

class NeedsLogin extends Error {}

async function api(path) {
  const headers = {};
  const auth = sessionStorage.getItem(TOKEN_KEY);
  if (auth) headers.Authorization = auth;
  const response = await fetch(new URL(path, API), { headers, cache: 'no-store' });
  if (response.status === 401) {
    const challenge = response.headers.get('WWW-Authenticate') || '';
    scheme = /^basic/i.test(challenge) ? 'Basic' : 'Bearer';
    throw new NeedsLogin();
  }
  const body = await response.json().catch(() => null);
  if (!response.ok || !body) {
    throw new Error(path + ': ' + response.status + ' ' + ((body && body.error) || response.statusText));
  }
  return body;
}

function setState(name) { document.body.dataset.state = name; }

function showLogin(message) {
  clearTimeout(timer);
  setState('login');
  $('overview').hidden = true;
  $('login').hidden = false;
  $('logout').hidden = true;
  $('token').placeholder = scheme === 'Basic' ? 'user:password' : 'token';
  $('login-error').textContent = message || '';
  $('token').focus();
}

$('login').addEventListener('submit', event => {
  event.preventDefault();
  const value = $('token').value.trim();
  const header = scheme === 'Basic' ? 'Basic ' + btoa(value) : 'Bearer ' + value;
  sessionStorage.setItem(TOKEN_KEY, header);
  $('token').value = '';
  $('login').hidden = true;
  poll();
});

$('logout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

function cell(row, text, cls) {
  const td = document.createElement('td');
  if (text instanceof Node) td.appendChild(text);
  else td.textContent = text == null ? '' : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tableId, items, render) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  for (const item of items) {
    const row = document.createElement('tr');
    render(row, item);
    body.appendChild(row);
  }
}

function videoText(video) {
  if (!video) return '—';
  const size = video.width && video.height ? ' ' + video.width + '×' + video.height : '';
  return [video.codec, video.profile, video.level].filter(Boolean).join(' ') + size;
}

function audioText(audio) {
  if (!audio) return '—';
  const rate = audio.sample_rate ? ' ' + audio.sample_rate / 1000 + ' kHz' : '';
  const channels = audio.channel ? ' ' + (audio.channel === 1 ? 'mono' : audio.channel === 2 ? 'stereo' : audio.channel + 'ch') : '';
  return [audio.codec, audio.profile].filter(Boolean).join(' ') + rate + channels;
}

// Players per protocol: the stream's clients that do not publish, counted by type.
function playersText(clients) {
  const counts = {};
  for (const c of clients) {
    if (c.publish) continue;
    const type = String(c.type || 'other').replace(/-play$/, '');
    counts[type] = (counts[type] || 0) + 1;
  }
  const parts = Object.keys(counts).sort().map(type => type + ' ' + counts[type]);
  return parts.length ? parts.join(', ') : 'none';
}

function extrasText(stream) {
  const parts = [];
  for (const f of stream.forwards || []) {
    parts.push('→ ' + (f.url || f.target || '?') + (f.state ? ' (' + f.state + ')' : ''));
  }
  if (stream.record) {
    const r = stream.record;
    parts.push('● rec ' + (r.state || '') + (r.files != null ? ', ' + r.files + ' files' : ''));
  }
  return parts.join('\n') || '—';
}

// Where players reach the http-lb: its public address, else this page's host at its port.
function playBase() {
  const play = lastConsole && lastConsole.play;
  if (!play) return null;
  const host = play.host || location.hostname;
  const bracketed = host.includes(':') && !host.startsWith('[') ? '[' + host + ']' : host;
  return (play.scheme || 'http') + '://' + bracketed + ':' + play.port;
}

function streamUrls(stream) {
  const base = playBase();
  if (!base) return null;
  const path = '/' + String(stream.app).split('/').map(encodeURIComponent).join('/') + '/' + encodeURIComponent(stream.name);
  const query = stream.vhost && stream.vhost !== '__defaultVhost__' ? '?vhost=' + encodeURIComponent(stream.vhost) : '';
  return {
    whep: base + path + '/whep' + query,
    hls: base + path + '.m3u8' + query,
    page: base + '/play' + path + query,
  };
}

async function startPreview(stream) {
  stopPreview();
  const urls = streamUrls(stream);
  $('preview').hidden = false;
  $('preview-name').textContent = stream.app + '/' + stream.name;
  $('preview-log').replaceChildren();
  const log = line => {
    const item = document.createElement('li');
    item.textContent = line;
    $('preview-log').appendChild(item);
  };
  if (!urls) {
    $('preview-state').textContent = 'no http-lb';
    log('The topology has no http-lb: WHEP and HLS are served through it.');
    return;
  }
  $('preview-state').textContent = 'connecting';
  const token = {};
  preview = token;
  try {
    const session = await oryxPlay($('preview-video'), urls, log);
    if (preview !== token) return session.close();
    preview = session;
    $('preview-state').textContent = session.kind === 'webrtc' ? 'WebRTC' : 'HLS';
  } catch (err) {
    $('preview-state').textContent = 'cannot play';
    log(err.message);
  }
}

function stopPreview() {
  if (preview && preview.close) preview.close();
  preview = null;
  const video = $('preview-video');
  video.srcObject = null;
  video.removeAttribute('src');
}

$('preview-close').addEventListener('click', () => {
  stopPreview();
  $('preview').hidden = true;
});

function render(info, streams, clients) {
  lastConsole = info;
  setState('ready');
  $('login').hidden = true;
  $('overview').hidden = false;
  $('logout').hidden = !sessionStorage.getItem(TOKEN_KEY);
  $('digest').textContent = 'plan ' + String(info.digest || '').replace(/^sha256:/, '').slice(0, 12);
  $('digest').title = 'plan digest ' + (info.digest || '');
  $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();

  fill('roles', info.roles || [], (row, r) => {
    cell(row, r.role);
    cell(row, r.crash_loop ? 'crash loop' : r.ready ? 'ready' : 'starting', r.ready && !r.crash_loop ? 'ok' : 'bad');
    cell(row, r.pid);
    cell(row, r.starts);
    cell(row, r.last_exit || '');
  });
  if (!info.roles) {
    fill('roles', [{}], row => { cell(row, 'no shell answered (role started on its own)', 'muted'); });
  }
  const perWorker = {};
  for (const s of streams) perWorker[s.worker] = (perWorker[s.worker] || 0) + 1;
  fill('workers', info.workers || [], (row, w) => {
    cell(row, w.name);
    cell(row, w.kind);
    cell(row, w.healthy ? 'healthy' : 'down', w.healthy ? 'ok' : 'bad');
    cell(row, perWorker[w.name] || 0);
  });

  const live = streams.filter(s => s.publish && s.publish.active);
  $('stream-count').textContent = '(' + live.length + ' live)';
  fill('streams', live, (row, s) => {
    const mine = clients.filter(c => c.stream === s.id);
    const publisher = mine.find(c => c.publish);
    row.dataset.stream = s.app + '/' + s.name;
    cell(row, (s.vhost && s.vhost !== '__defaultVhost__' ? s.vhost + '/' : '') + s.app + '/' + s.name, 'name');
    cell(row, s.worker, 'worker');
    cell(row, videoText(s.video), 'video');
    cell(row, audioText(s.audio), 'audio');
    cell(row, s.kbps ? s.kbps.recv_30s : '', 'kbps');
    cell(row, publisher ? publisher.ip + (publisher.type ? ' (' + publisher.type.replace(/-publish$/, '') + ')' : '') : '—', 'publisher');
    cell(row, playersText(mine), 'players');
    cell(row, extrasText(s), 'extras').style.whiteSpace = 'pre-line';
    const actions = document.createElement('span');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'preview';
    button.addEventListener('click', () => startPreview(s));
    actions.appendChild(button);
    const urls = streamUrls(s);
    if (urls) {
      const link = document.createElement('a');
      link.href = urls.page;
      link.target = '_blank';
      link.rel = 'noopener';
      link.textContent = ' player page';
      actions.appendChild(link);
    }
    cell(row, actions);
  });
  // `?preview=APP/STREAM` opens that stream's preview once it is listed (a link to share).
  const wanted = new URLSearchParams(location.search).get('preview');
  if (wanted && !previewOpened) {
    const found = live.find(s => s.app + '/' + s.name === wanted);
    if (found) {
      previewOpened = true;
      startPreview(found);
    }
  }
  const errors = [];
  for (const list of [streams.errors, clients.errors]) for (const e of list || []) errors.push(e.worker + ': ' + (e.error || e.status));
  $('error').textContent = errors.length ? 'Workers that did not answer: ' + errors.join('; ') : '';
  $('error').hidden = !errors.length;
}

async function poll() {
  clearTimeout(timer);
  try {
    const [info, streams, clients] = await Promise.all([api('console'), api('streams/'), api('clients/')]);
    const streamList = streams.streams || [];
    streamList.errors = streams.errors;
    const clientList = clients.clients || [];
    clientList.errors = clients.errors;
    render(info, streamList, clientList);
  } catch (err) {
    if (err instanceof NeedsLogin) {
      const had = sessionStorage.getItem(TOKEN_KEY);
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin(had ? 'The API refused that credential.' : '');
    }
    setState('error');
    $('error').textContent = 'API: ' + err.message;
    $('error').hidden = false;
  }
  timer = setTimeout(poll, POLL_MS);
}

poll();
