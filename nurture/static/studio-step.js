// The step editor's live preview: re-render on every edit, show problems as they are typed.
(() => {
  const form = document.getElementById('step-form');
  const url = form.action + '/preview';
  const token = form.querySelector('input[name=csrftoken]').value;
  const frame = document.getElementById('preview-frame');
  const textPart = document.getElementById('preview-text');
  const status = document.getElementById('preview-status');
  const list = document.getElementById('preview-problems');
  let timer = null, seq = 0;
  async function render(extra) {
    const mine = ++seq;
    const data = new FormData(form);
    if (extra) for (const [k, v] of Object.entries(extra)) data.set(k, v);
    status.textContent = 'Rendering…';
    let result;
    try {
      const response = await fetch(url, {method: 'POST', body: data, headers: {'x-csrftoken': token}, credentials: 'same-origin'});
      if (!response.ok) { status.textContent = 'Preview failed (' + response.status + '). Reload the page.'; return null; }
      result = await response.json();
    } catch (e) { status.textContent = 'Preview failed: ' + e; return null; }
    if (mine !== seq) return null;
    list.replaceChildren(...result.problems.map(p => { const li = document.createElement('li'); li.className = p.severity || 'error'; li.textContent = p.message; return li; }));
    if (result.html !== undefined) {
      frame.srcdoc = result.html;
      textPart.textContent = result.text;
      document.getElementById('preview-subject').textContent = 'Subject: ' + result.subject;
      document.getElementById('preview-preheader').textContent = result.preheader;
      status.textContent = result.problems.length ? 'Rendered, with ' + result.problems.length + ' problem(s) listed below.' : 'Rendered. No problems found.';
    } else {
      status.textContent = 'Not rendered: fix the problems listed below.';
    }
    return result;
  }
  form.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(render, 350); });
  document.getElementById('numbness_type').addEventListener('change', () => render());
  document.querySelectorAll('input[name=width]').forEach(r => r.addEventListener('change', () => frame.classList.toggle('phone', r.value === 'phone' && r.checked)));
  document.querySelectorAll('input[name=part]').forEach(r => r.addEventListener('change', () => { const text = document.querySelector('input[name=part]:checked').value === 'text'; frame.hidden = text; textPart.hidden = !text; }));
  document.getElementById('fill-text').addEventListener('click', async () => {
    const result = await render({fill_text: '1'});
    if (result && result.derived_text !== undefined) { document.getElementById('text').value = result.derived_text; render(); }
  });
  render();
})();
