// Cancelling a run from its page: a button, then a confirmation with an optional reason (recorded
// in RunCancelled). The server refuses a run that has already ended and names its state, as
// `flujo cancel` does; the refusal stays on the page until the person closes it.
import { api, h, runApi } from './dom.js';

/**
 * The cancel control for a running or paused run. `reload()` after the server recorded the cancel
 * or refused it (the run's state has changed either way); `onClose()` when the person closes a
 * refusal. `box.refused` is true while a refusal is shown: the page keeps it after the run has
 * ended, until it is closed.
 */
export function cancelControl(runId, reload, onClose) {
  const ask = h('button', { type: 'button', class: 'cancel-run' }, 'Cancel run…');
  const reason = h('input', {
    name: 'reason',
    id: 'cancel-reason',
    maxlength: 2000,
    placeholder: 'optional; recorded with the cancel',
  });
  const errors = h('ul', { class: 'form-errors', role: 'alert' });
  const confirm = h('button', { type: 'submit', class: 'danger' }, 'Yes, cancel the run');
  const keep = h('button', { type: 'button', class: 'keep' }, 'Keep it');
  const form = h(
    'form',
    { class: 'card cancel-confirm', hidden: true, 'aria-label': 'cancel this run' },
    h('h2', {}, 'Cancel this run?'),
    h(
      'p',
      {},
      'It stops where it is and cannot be resumed: steps in flight on this server are aborted, a ' +
        'run driven elsewhere stops at its next step, and open questions are withdrawn.',
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'cancel-reason' }, 'Reason', h('em', {}, ' (optional)')),
      reason,
    ),
    errors,
    h('div', { class: 'actions' }, confirm, ' ', keep),
  );
  const box = h('div', { class: 'cancel-slot-box' }, ask, form);
  box.refused = false;

  const show = (asking) => {
    form.hidden = !asking;
    ask.hidden = asking;
    if (asking) reason.focus();
  };
  ask.addEventListener('click', () => show(true));
  keep.addEventListener('click', () => {
    if (box.refused) return onClose();
    errors.replaceChildren();
    show(false);
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    confirm.disabled = true;
    confirm.textContent = 'Cancelling…';
    try {
      await api(runApi(runId, '/cancel'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(reason.value.trim() ? { reason: reason.value.trim() } : {}),
      });
      reload();
    } catch (e) {
      // 409: the run ended before the cancel; nothing was recorded. Say so, offer nothing more.
      box.refused = e.status === 409;
      errors.append(h('li', { class: 'lead' }, 'Not cancelled:'), h('li', {}, e.message));
      confirm.hidden = box.refused;
      keep.textContent = box.refused ? 'Close' : 'Keep it';
      if (box.refused) reload();
    } finally {
      confirm.disabled = false;
      confirm.textContent = 'Yes, cancel the run';
    }
  });
  return box;
}
