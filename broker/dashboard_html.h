// The dashboard page served at "/": static HTML that polls /api/* every two
// seconds. No build step and no external assets (the machine may be offline).
// With the operator token (typed once, kept for the browser tab in
// sessionStorage, sent as a Bearer header, never in a URL or a cookie, so
// another site cannot act through it) it shows run, pause, resume and
// cancel buttons.
#pragma once

#include <string_view>

namespace broker {

inline constexpr std::string_view kDashboardHtml = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Daybreak</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#1d2330;background:#f7f8fa}
h1{font-size:1.3rem;margin:0 0 .2rem} h2{font-size:1rem;margin:1.5rem 0 .4rem}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e6e8ec;white-space:nowrap}
th{background:#eef0f4;font-weight:600} td.err{white-space:normal;color:#8a1c1c;max-width:30rem}
.s{border-radius:.7rem;padding:.1rem .55rem;font-size:.8rem;font-weight:600}
.succeeded{background:#d7f5dd;color:#145c27}.failed,.missed{background:#fbd9d9;color:#8a1c1c}
.running,.dispatched{background:#d9e8fb;color:#1c4a8a}.retry_wait,.queued,.accepted{background:#fbefd0;color:#7a5a06}
.skipped,.cancelled{background:#e6e8ec;color:#444}
#health{font-size:.9rem;color:#555} .bad{color:#8a1c1c;font-weight:600}
#detail{background:#fff;box-shadow:0 1px 2px #0001;padding:.6rem .9rem}
#detail dl{display:grid;grid-template-columns:10rem 1fr;gap:.15rem .8rem;margin:0 0 .6rem} #detail dt{font-weight:600} #detail dd{margin:0}
#detail pre{background:#1d2330;color:#e6e8ec;padding:.6rem;overflow:auto;max-height:20rem;white-space:pre-wrap}
td.err small{display:block;color:#555;font-family:monospace}
a{color:#1c4a8a} button{font:inherit;font-size:.8rem;padding:.1rem .5rem;margin-right:.3rem;cursor:pointer}
#access{margin:.4rem 0;font-size:.9rem} #flash{margin:.4rem 0;font-weight:600} .filters{margin:.3rem 0}
</style></head><body>
<h1>Daybreak</h1><div id="health">loading…</div><div id="access"></div><div id="flash"></div>
<section id="run" hidden><h2>Run <span id="run-id"></span> · <a href="#">close</a></h2><div id="detail"></div></section>
<h2>Teams</h2><table id="teams"><thead><tr><th>Team</th><th>Name</th><th>Schedule</th>
<th>Next fire</th><th>Overlap</th><th>Streak</th><th>Last success</th><th>Last run</th><th></th></tr></thead><tbody></tbody></table>
<h2>Recent runs</h2><div class="filters">team <select id="f-team"><option value="">all</option></select>
state <select id="f-state"><option value="">all</option></select></div><table id="runs"><thead><tr><th>Run</th><th>Team</th><th>State</th>
<th>Kind</th><th>pdate</th><th>Try</th><th>Started</th><th>Finished</th><th>Duration</th><th>Next try</th>
<th>Loans</th><th>Error</th><th></th></tr></thead><tbody></tbody></table>
<h2>Runners</h2><table id="runners"><thead><tr><th>Runner</th><th>Slots</th><th>Holding</th><th>Last heard</th></tr></thead><tbody></tbody></table>
<script>
const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const team = t => t === 0 ? 'general' : t;
const when = ms => ms > 0 ? new Date(ms).toLocaleString() : '-';
const num = n => (typeof n === 'number' && n >= 0) ? n.toLocaleString() : '-';
const badge = s => `<span class="s ${esc(s)}">${esc(s)}</span>`;
// The last line the pipeline wrote to stderr: what it said went wrong.
const reason = r => {
  const lines = String(r.stderr_tail || '').trim().split('\n');
  return r.error && lines[0] ? `<small>${esc(lines[lines.length - 1].slice(0, 160))}</small>` : '';
};
const took = r => r.started_unix_ms > 0 && r.finished_unix_ms >= r.started_unix_ms
  ? ((r.finished_unix_ms - r.started_unix_ms) / 1000).toFixed(1) + ' s' : '-';
const STATES = ['accepted','queued','dispatched','running','retry_wait','succeeded','failed','missed','skipped','cancelled'];
const ACTIVE = new Set(['accepted','queued','dispatched','running','retry_wait']);
let token = sessionStorage.getItem('daybreak-token') || '';
let access = {actions: 'off', read_needs_token: false, token: 'none'};
const auth = () => token ? {Authorization: 'Bearer ' + token} : {};
async function get(path) { const r = await fetch(path, {headers: auth()}); if (!r.ok) throw new Error(path + ': ' + r.status); return r.json(); }
function flash(text, bad) { const f = document.getElementById('flash'); f.textContent = text; f.className = bad ? 'bad' : ''; }
async function checkAccess() {
  try { access = await get('/api/access'); } catch (e) { return; }
  const box = document.getElementById('access');
  if (access.token !== 'none') {
    box.innerHTML = `signed in with the ${esc(access.token)} token · <button id="signout">sign out</button>` +
      (access.actions === 'allowed' ? '' : ' (read only)');
  } else if (access.actions === 'off' && !access.read_needs_token) {
    box.textContent = 'read only: no operator token is configured (broker.http_operator_token)';
  } else {
    box.innerHTML = `<input id="token" type="password" placeholder="token" size="30"> <button id="signin">sign in</button>` +
      (token ? ' <span class="bad">that token was not accepted</span>' : '');
  }
}
async function act(path, body, what) {
  const r = await fetch(path, {method: 'POST', headers: {...auth(), 'Content-Type': 'application/json'}, body: JSON.stringify(body || {})});
  const reply = await r.json().catch(() => ({error: 'status ' + r.status}));
  flash(r.ok ? what + ': done' + (reply.run ? ' (' + reply.run.run_id + ', ' + reply.run.state + ')' : '') : what + ': ' + reply.error, !r.ok);
  refresh();
}
document.addEventListener('click', e => {
  const b = e.target.closest('button');
  if (!b) return;
  if (b.id === 'signin') { token = document.getElementById('token').value.trim(); sessionStorage.setItem('daybreak-token', token); checkAccess().then(refresh); }
  if (b.id === 'signout') { token = ''; sessionStorage.removeItem('daybreak-token'); checkAccess().then(refresh); }
  const t = b.dataset.team, r = b.dataset.run;
  if (b.dataset.act === 'run') act('/api/runs', {team: Number(t)}, 'run ' + team(Number(t)));
  if (b.dataset.act === 'pause' || b.dataset.act === 'resume') act(`/api/teams/${t}/${b.dataset.act}`, null, b.dataset.act + ' ' + team(Number(t)));
  if (b.dataset.act === 'cancel' && confirm('Cancel ' + r + '?')) act(`/api/runs/${r}/cancel`, null, 'cancel ' + r);
});
for (const s of STATES) document.getElementById('f-state').insertAdjacentHTML('beforeend', `<option>${s}</option>`);
document.getElementById('f-team').onchange = document.getElementById('f-state').onchange = () => refresh();
function teamOptions(teams) {
  const select = document.getElementById('f-team'), keep = select.value;
  const want = '<option value="">all</option>' + teams.map(t => `<option value="${t.id}">${team(t.id)} ${esc(t.name)}</option>`).join('');
  if (select.dataset.html !== want) { select.innerHTML = want; select.dataset.html = want; select.value = keep; }
}
// A poll redraws a table only when what it shows has changed. Redrawing it
// anyway swapped every button for a new one each 2 s: a click pressed before
// a poll and released after it hit no button, and keyboard focus was lost.
const drawn = new WeakMap();
function draw(selector, html) {
  const el = document.querySelector(selector);
  if (drawn.get(el) !== html) { el.innerHTML = html; drawn.set(el, html); }
}
async function refresh() {
  try {
    const fteam = document.getElementById('f-team').value, fstate = document.getElementById('f-state').value;
    const [stats, teams, all, runners] = await Promise.all([get('/api/stats'), get('/api/teams'),
      get('/api/runs?limit=100' + (fteam !== '' ? '&team=' + fteam : '')), get('/api/runners')]);
    teamOptions(teams);
    const runs = fstate ? all.filter(r => r.state === fstate) : all;
    const can = access.actions === 'allowed';
    const mayTeam = id => can && (!access.teams || access.teams.includes(id));  // a token for some teams
    document.getElementById('health').innerHTML =
      `broker up · ${stats.runners} runner(s) · ${stats.active_runs} active run(s) · event seq ${stats.last_seq} · updated ${new Date().toLocaleTimeString()}`;
    const last = {};
    for (const r of all) if (!(r.team in last)) last[r.team] = r;
    draw('#teams tbody', teams.map(t => `<tr data-team="${t.id}"><td>${team(t.id)}</td>
      <td>${esc(t.name)}</td><td>${t.after && t.after.length ? 'after ' + t.after.map(team).join(', ') : 'daily ' + esc(t.run_time) + ' ' + esc(t.timezone)}</td>
      <td class="next">${t.paused ? 'paused' : t.next_fire_unix_ms ? when(t.next_fire_unix_ms) : t.after && t.after.length ? 'after ' + t.after.map(team).join(', ') : '-'}</td>
      <td>${esc(t.overlap)}</td><td class="streak${t.consecutive_failures ? ' bad' : ''}">${t.consecutive_failures ? t.consecutive_failures + ' failed' : '-'}</td>
      <td>${t.last_success_unix_ms ? when(t.last_success_unix_ms) : '-'}</td><td>${last[t.id] ? badge(last[t.id].state) + ' ' + esc(last[t.id].run_id) : '-'}</td>
      <td>${mayTeam(t.id) ? `<button data-act="run" data-team="${t.id}">run now</button><button data-act="${t.paused ? 'resume' : 'pause'}" data-team="${t.id}">${t.paused ? 'resume' : 'pause'}</button>` : ''}</td></tr>`).join(''));
    draw('#runs tbody', runs.map(r => `<tr data-run="${esc(r.run_id)}"><td><a href="#run=${esc(r.run_id)}">${esc(r.run_id)}</a></td>
      <td>${team(r.team)}</td><td>${badge(r.state)}</td><td>${esc(r.kind)}</td><td>${esc(r.pdate)}</td>
      <td>${r.attempt}/${r.max_attempts}</td><td>${when(r.started_unix_ms)}</td><td>${when(r.finished_unix_ms)}</td><td>${took(r)}</td>
      <td>${r.state === 'retry_wait' ? when(r.next_attempt_unix_ms) : '-'}</td><td>${num(r.total_loans)}</td><td class="err">${esc(r.error)}${reason(r)}</td>
      <td>${mayTeam(r.team) && ACTIVE.has(r.state) ? `<button data-act="cancel" data-run="${esc(r.run_id)}">cancel</button>` : ''}</td></tr>`).join(''));
    // "Last heard" changes every poll: it is written into its cell alone,
    // so the rows (and their run links) are redrawn only when they change.
    draw('#runners tbody', runners.length ? runners.map(x => `<tr><td>${esc(x.runner_id)}</td>
      <td>${x.runs.length} of ${x.slots} in use</td><td>${x.runs.map(id => `<a href="#run=${esc(id)}">${esc(id)}</a>`).join(' ') || '-'}</td>
      <td class="heard"></td></tr>`).join('') : '<tr><td colspan="4">no runner connected</td></tr>');
    document.querySelectorAll('#runners td.heard').forEach((cell, i) => {
      cell.textContent = `${(runners[i].last_seen_ms_ago / 1000).toFixed(1)} s ago`;
    });
  } catch (e) {
    document.getElementById('health').innerHTML = `<span class="bad">cannot reach the broker: ${esc(e.message)}</span>`;
  }
}
// A run's page: #run=<id> (Slack's "Open the run" button links here).
async function showRun() {
  const m = location.hash.match(/^#run=([A-Za-z0-9_.:-]+)$/);
  const section = document.getElementById('run');
  if (!m) { section.hidden = true; return; }
  section.hidden = false;
  document.getElementById('run-id').textContent = m[1];
  try {
    const r = await get('/api/runs/' + m[1]);
    const rows = [['State', badge(r.state)], ['Team', team(r.team)], ['Kind', esc(r.kind)], ['Key', esc(r.key)],
      ['pdate / local date', esc(r.pdate) + ' / ' + esc(r.local_date)], ['Attempt', r.attempt + ' of ' + r.max_attempts],
      ['Runner', esc(r.runner_id) || '-'], ['Accepted', when(r.accepted_unix_ms)], ['Started', when(r.started_unix_ms)],
      ['Finished', when(r.finished_unix_ms)], ['Duration', took(r)],
      ['Next try', r.next_attempt_unix_ms > 0 ? when(r.next_attempt_unix_ms) : '-'],
      ['Loans / exceptions', num(r.total_loans) + ' / ' + num(r.exceptions_count)],
      ['Exit code', r.exit_code ?? '-'], ['Error', esc(r.error) || '-'], ['Log', esc(r.log_path) || '-'],
      ['Inputs', Object.entries(r.inputs || {}).map(([role, f]) => `${esc(role)} <code>${esc(f)}</code>`).join('<br>') || '-'],
      ['Requested by', esc(r.requested_by) || '-']];
    document.getElementById('detail').innerHTML = '<dl>' + rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('') +
      '</dl>' + (r.stderr_tail ? `<b>Reason (the end of its log)</b><pre>${esc(r.stderr_tail)}</pre>` : '');
  } catch (e) {
    document.getElementById('detail').innerHTML = `<span class="bad">${esc(e.message)}</span>`;
  }
}
window.addEventListener('hashchange', showRun);
checkAccess().then(() => { showRun(); refresh(); }); setInterval(refresh, 2000);
</script></body></html>
)html";

}  // namespace broker
