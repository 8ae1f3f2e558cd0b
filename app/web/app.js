// The resume page: a few views switched by the URL hash, all talking to the JSON API.
// User data is always inserted as text (never as HTML).
'use strict';

const state = { me: null, tasks: [] };

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false && v != null) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c == null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  const resp = await fetch(path, init);
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: text }; }
  }
  return { ok: resp.ok, status: resp.status, data };
}

function showErrors(form, data) {
  form.querySelectorAll('.error').forEach(e => { e.textContent = ''; });
  const field = data && data.field;
  const slot = form.querySelector(`.error[data-for="${field}"]`) || form.querySelector('.error[data-for="form"]');
  slot.textContent = (data && data.error) || 'Something went wrong. Please try again.';
}

async function refreshMe() {
  const r = await api('GET', '/api/auth/me');
  state.me = r.ok ? r.data.username : null;
  document.querySelectorAll('[data-auth]').forEach(el => {
    el.hidden = (el.dataset.auth === 'in') !== Boolean(state.me);
  });
  const who = document.getElementById('whoami');
  who.hidden = !state.me;
  who.textContent = state.me ? `Logged in as ${state.me}` : '';
}

async function loadTasks() {
  if (state.tasks.length) return state.tasks;
  const r = await api('GET', '/api/tasks');
  state.tasks = r.ok ? r.data : [];
  return state.tasks;
}

// ---- views ----

function homeView() {
  return [
    h('h1', {}, 'Apply with modu'),
    h('div', { class: 'card' },
      h('p', {}, 'Sign up, write a short motivation, pick a job category and attach a few portfolio images.'),
      h('p', {}, 'The "Save 10 times" button repeats the original traffic test: ten saves in one click, timed.'),
      h('div', { class: 'buttons' },
        h('a', { href: state.me ? '#/new' : '#/signup', class: 'btn primary' }, state.me ? 'Write a resume' : 'Sign up'),
        h('a', { href: '#/resumes', class: 'btn secondary' }, 'See resumes'))),
  ];
}

function aboutView() {
  return [
    h('h1', {}, 'About'),
    h('div', { class: 'card' },
      h('p', {}, 'This service collects resumes: an applicant name, a motivation, a job category and portfolio images.'),
      h('p', {}, 'It is the workload that modu\'s architecture is built to protect: many people saving the form at the same moment, with images.'),
      h('p', {}, 'Images are checked by their content (JPEG, PNG, WebP or GIF), passwords are hashed with Argon2id, and a save is acknowledged only once the resume and its images are durably stored.')),
  ];
}

function authView(kind) {
  const signup = kind === 'signup';
  const form = h('form', { class: 'card', id: `${kind}-form` },
    h('label', {}, 'Username', h('input', { name: 'username', autocomplete: 'username', required: true }),
      h('span', { class: 'error', 'data-for': 'username' })),
    h('label', {}, 'Password', h('input', { name: 'password', type: 'password', autocomplete: signup ? 'new-password' : 'current-password', required: true }),
      h('span', { class: 'error', 'data-for': 'password' })),
    signup ? h('label', {}, 'Confirm password', h('input', { name: 'password_confirm', type: 'password', autocomplete: 'new-password', required: true }),
      h('span', { class: 'error', 'data-for': 'password_confirm' })) : null,
    h('span', { class: 'error', 'data-for': 'form' }),
    h('div', { class: 'buttons' }, h('button', { class: 'primary', type: 'submit' }, signup ? 'Sign up' : 'Log in')));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const body = Object.fromEntries(new FormData(form));
    const r = await api('POST', signup ? '/api/auth/signup' : '/api/auth/login', body);
    if (!r.ok) return showErrors(form, r.data);
    await refreshMe();
    location.hash = '#/new';
  });
  return [h('h1', {}, signup ? 'Sign up' : 'Log in'), form];
}

async function newView() {
  if (!state.me) { location.hash = '#/login'; return []; }
  const tasks = await loadTasks();
  const previews = h('div', { class: 'previews', id: 'previews' });
  const files = h('input', { name: 'image', type: 'file', accept: 'image/jpeg,image/png,image/webp,image/gif', multiple: true });
  files.addEventListener('change', () => {
    previews.replaceChildren(...[...files.files].map(f => {
      const img = h('img', { alt: f.name });
      img.src = URL.createObjectURL(f);
      img.onload = () => URL.revokeObjectURL(img.src);
      return img;
    }));
  });
  const status = h('p', { class: 'status', id: 'save-status' });
  const timings = h('p', { class: 'timings', id: 'save-timings' });
  const form = h('form', { class: 'card', id: 'resume-form' },
    h('label', {}, 'Name', h('input', { name: 'name', maxlength: '50', required: true }), h('span', { class: 'error', 'data-for': 'name' })),
    h('label', {}, 'Motivation', h('textarea', { name: 'motivation', maxlength: '2000', required: true }), h('span', { class: 'error', 'data-for': 'motivation' })),
    h('label', {}, 'Job category',
      h('select', { name: 'task', required: true }, tasks.map(t => h('option', { value: String(t.id) }, t.name))),
      h('span', { class: 'error', 'data-for': 'task' })),
    h('label', {}, 'Portfolio images', files, h('span', { class: 'error', 'data-for': 'image' })),
    previews,
    h('span', { class: 'error', 'data-for': 'form' }),
    h('span', { class: 'error', 'data-for': 'body' }),
    h('div', { class: 'buttons' },
      h('button', { class: 'primary', type: 'submit', id: 'save' }, 'Save'),
      h('button', { class: 'secondary', type: 'button', id: 'save-ten' }, 'Save 10 times')),
    status, timings);

  const buttons = () => form.querySelectorAll('button');
  async function save(times) {
    buttons().forEach(b => { b.disabled = true; });
    status.className = 'status';
    status.textContent = times > 1 ? `Saving ${times} times…` : 'Saving…';
    timings.textContent = '';
    const each = [];
    const start = performance.now();
    let failed = null;
    for (let i = 0; i < times; i++) {
      const t0 = performance.now();
      const r = await api('POST', '/api/resumes', new FormData(form));
      each.push(performance.now() - t0);
      if (!r.ok) { failed = r; break; }
    }
    const total = performance.now() - start;
    buttons().forEach(b => { b.disabled = false; });
    if (failed) {
      status.className = 'status bad';
      status.textContent = `Not saved (${failed.status}).`;
      return showErrors(form, failed.data);
    }
    form.querySelectorAll('.error').forEach(e => { e.textContent = ''; });
    status.className = 'status ok';
    status.textContent = times > 1
      ? `Saved ${times} times in ${Math.round(total)} ms.`
      : `Saved in ${Math.round(total)} ms.`;
    if (times > 1) timings.textContent = 'Each save (ms): ' + each.map(ms => Math.round(ms)).join(', ');
  }
  form.addEventListener('submit', ev => { ev.preventDefault(); save(1); });
  form.querySelector('#save-ten').addEventListener('click', () => { if (form.reportValidity()) save(10); });
  return [h('h1', {}, 'New resume'), form];
}

function resumeCard(r) {
  const created = new Date(r.created_at).toLocaleString();
  const card = h('article', { class: 'card resume', 'data-id': r.id },
    h('h2', {}, r.name),
    h('div', { class: 'meta' }, `${r.task.name} · by ${r.owner} · ${created}`),
    h('p', { class: 'motivation' }, r.motivation),
    h('div', { class: 'thumbs' }, r.images.map(img => h('a', { href: img.url, target: '_blank', rel: 'noopener' },
      h('img', { src: img.url, alt: `${img.width}×${img.height}`, loading: 'lazy', width: '72', height: '72' })))));
  if (state.me && state.me === r.owner) {
    card.append(h('div', { class: 'buttons' },
      h('button', { class: 'secondary edit', type: 'button', onclick: () => openEditor(card, r) }, 'Edit'),
      h('button', {
        class: 'secondary', type: 'button', onclick: async () => {
          if (!confirm('Delete this resume?')) return;
          const res = await api('DELETE', `/api/resumes/${r.id}`);
          if (res.ok) card.remove();
        },
      }, 'Delete')));
  }
  return card;
}

// Edits in place: text fields, images to remove (ticked) and images to add, sent as one
// multipart PATCH; the card is redrawn from the answer.
async function openEditor(card, r) {
  if (card.querySelector('form.edit-form')) return;
  const tasks = await loadTasks();
  const form = h('form', { class: 'edit-form' },
    h('label', {}, 'Name', h('input', { name: 'name', maxlength: '50', required: true, value: r.name }),
      h('span', { class: 'error', 'data-for': 'name' })),
    h('label', {}, 'Motivation', h('textarea', { name: 'motivation', maxlength: '2000', required: true }, r.motivation),
      h('span', { class: 'error', 'data-for': 'motivation' })),
    h('label', {}, 'Job category',
      h('select', { name: 'task' }, tasks.map(t => h('option', { value: String(t.id), selected: t.id === r.task.id }, t.name))),
      h('span', { class: 'error', 'data-for': 'task' })),
    h('div', { class: 'thumbs' }, r.images.map(img => h('label', { class: 'remove' },
      h('img', { src: img.url, alt: `${img.width}×${img.height}`, width: '72', height: '72' }),
      h('span', {}, h('input', { type: 'checkbox', name: 'remove_image', value: img.key }), ' Remove')))),
    h('span', { class: 'error', 'data-for': 'remove_image' }),
    h('label', {}, 'Add images', h('input', { name: 'image', type: 'file', accept: 'image/jpeg,image/png,image/webp,image/gif', multiple: true }),
      h('span', { class: 'error', 'data-for': 'image' })),
    h('span', { class: 'error', 'data-for': 'body' }),
    h('span', { class: 'error', 'data-for': 'form' }),
    h('div', { class: 'buttons' },
      h('button', { class: 'primary', type: 'submit' }, 'Save changes'),
      h('button', { class: 'secondary', type: 'button', onclick: () => form.remove() }, 'Cancel')));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const res = await api('PATCH', `/api/resumes/${r.id}`, new FormData(form));
    if (!res.ok) return showErrors(form, res.data);
    card.replaceWith(resumeCard(res.data));
  });
  card.append(form);
}

async function listView() {
  const list = h('div', { id: 'resume-list' });
  const more = h('button', { class: 'secondary', type: 'button', hidden: true }, 'Load more');
  let cursor = '';
  async function load() {
    more.disabled = true;
    const r = await api('GET', `/api/resumes?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    more.disabled = false;
    if (!r.ok) { list.append(h('p', { class: 'status bad' }, 'Could not load resumes.')); return; }
    if (!cursor && r.data.items.length === 0) list.append(h('p', {}, 'No resumes yet.'));
    list.append(...r.data.items.map(resumeCard));
    cursor = r.data.next_cursor || '';
    more.hidden = !cursor;
  }
  more.addEventListener('click', load);
  await load();
  return [h('h1', {}, 'Resumes'), list, more];
}

function architectureView() {
  const box = (title, text) => h('div', { class: 'box' }, h('strong', {}, title), h('div', {}, text));
  const arrow = () => h('div', { class: 'arrow' }, '↓');
  return [
    h('h1', {}, 'Architecture'),
    h('div', { class: 'card' }, h('p', {}, 'What modu provisions on AWS so that this page holds a spike of saves:')),
    h('div', { class: 'arch' },
      box('Application Load Balancer', 'HTTP listener in at least two availability zones; health checks on /readyz; deregistration delay lets in-flight uploads finish on scale-in.'),
      arrow(),
      box('Auto Scaling group of EC2 instances', 'Each runs this one binary (modu-app). Target tracking on average CPU adds instances under load. SIGTERM stops new connections and finishes the requests in flight.'),
      arrow(),
      box('Shared state', 'PostgreSQL (DATABASE_URL) for users and resumes; Redis (REDIS_URL) for sessions and the list cache, so any instance accepts any session; S3 (S3_BUCKET) for images, optionally served through a CDN (MEDIA_BASE_URL).'),
      h('div', { class: 'box' }, h('strong', {}, 'Alone on one machine'), h('div', {}, 'Without those settings the same binary uses SQLite in WAL mode, images on local disk and an in-process cache.'))),
  ];
}

const routes = {
  '': homeView, '#/': homeView, '#/about': aboutView, '#/signup': () => authView('signup'),
  '#/login': () => authView('login'), '#/new': newView, '#/resumes': listView, '#/architecture': architectureView,
};

async function render() {
  const view = routes[location.hash] || homeView;
  const nodes = await view();
  document.getElementById('view').replaceChildren(...nodes);
}

document.getElementById('logout').addEventListener('click', async () => {
  await api('POST', '/api/auth/logout');
  await refreshMe();
  location.hash = '#/';
  render();
});
window.addEventListener('hashchange', render);
refreshMe().then(render);
