// The page's script (src/worker/public/index.html): runs in the browser; each worker serves it as a file, so the
// Content-Security-Policy can forbid inline scripts.
const colors = ['#0a66c2', '#e8590c', '#2f9e44', '#ae3ec9', '#f08c00', '#1098ad', '#e03131', '#5c940d'];
const $ = (id) => document.getElementById(id);
const answers = [];

function show(state) {
  $('visits').textContent = state.visits;
  $('age').textContent = state.sessionAgeS + ' s';
  $('worker').textContent = state.worker === null ? '–' : 'worker ' + state.worker;
}

function draw() {
  const width = 400 / 20;
  $('strip').innerHTML = answers.map((worker, i) =>
    '<rect data-worker="' + worker + '" x="' + (i * width + 1) + '" y="8" width="' + (width - 2) + '" height="44" rx="3" fill="' + colors[(worker - 1) % colors.length] + '"></rect>'
  ).join('');
  const workers = [...new Set(answers)].sort((a, b) => a - b);
  // Built with the DOM, colours set through the CSSOM: the Content-Security-Policy refuses inline style attributes.
  $('legend').replaceChildren(...workers.map((w) => {
    const swatch = document.createElement('i');
    swatch.style.background = colors[(w - 1) % colors.length];
    const item = document.createElement('span');
    item.append(swatch, 'worker ' + w);
    return item;
  }));
}

async function call(method, path) {
  const response = await fetch(path, { method, credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(path + ': ' + response.status);
  return response.json();
}

$('send').addEventListener('click', async () => {
  $('send').disabled = true;
  answers.length = 0;
  draw();
  try {
    for (let i = 0; i < 20; i++) {
      const state = await call('POST', '/api/visit');
      answers.push(state.worker);
      show(state);
      draw();
    }
  } finally {
    $('send').disabled = false;
  }
});

$('forget').addEventListener('click', async () => {
  await call('POST', '/logout');
  answers.length = 0;
  draw();
  show(await call('GET', '/api/session'));
  refreshAccount();
});

async function send(path, body) {
  const response = await fetch(path, { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json', 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });
  return { ok: response.ok, json: await response.json() };
}

const shownAt = (ms) => (ms ? new Date(ms).toLocaleString() : '–');

/** A session as a list row; every text from the server goes in as text, never as HTML. */
function row(session) {
  const item = document.createElement('li');
  item.dataset.id = session.id;
  const device = document.createElement('strong');
  device.textContent = session.device;
  item.append(device);
  if (session.current) {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = 'this device';
    item.append(badge);
  }
  const details = document.createElement('small');
  details.textContent = session.address + ' · signed in ' + shownAt(session.signedInAt) + ' · last seen ' + shownAt(session.lastSeenAt);
  const revoke = document.createElement('button');
  revoke.textContent = 'Sign out';
  revoke.addEventListener('click', async () => {
    await send('/api/sessions/revoke', { id: session.id });
    refreshAccount();
  });
  item.append(details, revoke);
  return item;
}

async function refreshAccount() {
  const me = await call('GET', '/api/me');
  $('signin').hidden = me.user !== null;
  $('signedin').hidden = me.user === null;
  if (me.user === null) return;
  $('who').textContent = me.user.displayName;
  const { sessions } = await call('GET', '/api/sessions');
  $('sessions').replaceChildren(...sessions.map(row));
  $('others').disabled = sessions.length < 2;
}

$('signin').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData($('signin'));
  const answer = await send('/login', { username: form.get('username'), password: form.get('password') });
  $('signin-error').textContent = answer.ok ? '' : answer.json.error;
  refreshAccount();
  show(await call('GET', '/api/session'));
});
$('signout').addEventListener('click', async () => {
  await call('POST', '/logout');
  refreshAccount();
});
$('others').addEventListener('click', async () => {
  await send('/api/sessions/revoke-others');
  refreshAccount();
});

call('GET', '/api/session').then(show);
refreshAccount();
