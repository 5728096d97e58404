// Every studio page: ask before submitting a form marked data-confirm (removing a step, say).
document.addEventListener('submit', (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
