// The restaurant's menu (GET /restaurants/:id/menu: its own token also sees HIDDEN items) with
// inline price edits and On sale / Sold out / Hidden toggles (PATCH .../menu-items/:menuId with
// If-Match: <version>). A 409 VERSION_CONFLICT shows the fresh item from error.details.current and
// offers it: take it as it is, or apply the same change to it.
import { useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../lib/api';
import { usePoll } from '../lib/hooks';
import { useT, type Messages } from '../lib/i18n';
import type { Session } from '../lib/session';
import { MENU_ITEM_STATUSES, type Menu, type MenuItem, type MenuItemStatus } from '../lib/types';
import { describeError } from '../lib/ui';

const POLL_MS = 3000;
const MAX_PRICE = 10_000_000;
/** How long "Saved" stays under a row. */
const SAVED_MESSAGE_MS = 6000;

type Patch = { price?: number; status?: MenuItemStatus };

interface RowState {
  /** The price as typed, while it differs from the item's. */
  draft?: string;
  busy?: boolean;
  message?: { kind: 'ok' | 'error'; text: string };
  conflict?: { attempted: Patch; current: MenuItem };
}

function isMenuItem(value: unknown): value is MenuItem {
  const v = value as MenuItem | undefined;
  return !!v && typeof v.menuId === 'string' && typeof v.version === 'number' && typeof v.price === 'number' && typeof v.status === 'string';
}

export function MenuEditor({ session, onName }: { session: Session; onName: (name: string) => void }) {
  const t = useT();
  const rid = session.restaurantId!;
  const [menu, setMenu] = useState<Menu>();
  const [error, setError] = useState<string>();
  const [rows, setRows] = useState<Record<string, RowState>>({});
  // The item as this console last saw it from a write (PATCH answer or a 409's current item). The
  // read model may lag behind a write by a moment; until it catches up, the newer version wins.
  const [written, setWritten] = useState<Record<string, MenuItem>>({});
  const named = useRef(false);

  const { refresh } = usePoll(
    async (signal) => {
      try {
        const m = await api<Menu>(`/restaurants/${encodeURIComponent(rid)}/menu`, { token: session.token, signal });
        setMenu(m);
        setError(undefined);
        if (m.name && !named.current) {
          named.current = true;
          onName(m.name);
        }
      } catch (err) {
        if (!signal.aborted) setError(describeError(t, err));
      }
    },
    POLL_MS,
    [rid, session.token],
  );

  const view = (item: MenuItem): MenuItem => {
    const w = written[item.menuId];
    return w && w.version > item.version ? w : item;
  };
  const setRow = (menuId: string, update: (r: RowState) => RowState) => setRows((all) => ({ ...all, [menuId]: update(all[menuId] ?? {}) }));

  async function save(item: MenuItem, patch: Patch) {
    setRow(item.menuId, (r) => ({ ...r, busy: true, message: undefined }));
    try {
      const result = await api<{ menuId: string; version: number }>(`/restaurants/${encodeURIComponent(rid)}/menu-items/${encodeURIComponent(item.menuId)}`, {
        method: 'PATCH',
        token: session.token,
        headers: { 'if-match': `"${item.version}"` },
        body: patch,
      });
      setWritten((w) => ({ ...w, [item.menuId]: { ...item, ...patch, version: result.version } }));
      const message = { kind: 'ok' as const, text: t.saved(result.version) };
      setRow(item.menuId, (r) => ({ ...(patch.price === undefined && r.draft !== undefined ? { draft: r.draft } : {}), message }));
      setTimeout(() => setRow(item.menuId, ({ message: shown, ...rest }) => (shown === message ? rest : { ...rest, message: shown })), SAVED_MESSAGE_MS);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'VERSION_CONFLICT') {
        const current = (err.details as { current?: unknown } | undefined)?.current;
        if (isMenuItem(current)) {
          setWritten((w) => ({ ...w, [item.menuId]: current }));
          setRow(item.menuId, (r) => ({ ...r, busy: false, message: undefined, conflict: { attempted: patch, current } }));
        } else {
          setRow(item.menuId, (r) => ({ ...r, busy: false, message: { kind: 'error', text: t.conflictTitle } }));
        }
        refresh();
        return;
      }
      setRow(item.menuId, (r) => ({ ...r, busy: false, message: { kind: 'error', text: describeError(t, err) } }));
    }
  }

  const items = menu?.items.map(view) ?? [];
  return (
    <section class="panel" aria-labelledby="menu-title">
      <div class="panel-head">
        <h2 id="menu-title">{t.menu}</h2>
        {menu?.asOf && <span class="muted small">{t.menuAsOf(t.time(menu.asOf))}</span>}
      </div>
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {!menu && !error && <p class="muted">{t.loading}</p>}
      {menu && (
        <>
          <p class="muted small">{t.hiddenNote}</p>
          <table class="table menu-table">
            <thead>
              <tr>
                <th scope="col">{t.colItem}</th>
                <th scope="col">{t.price}</th>
                <th scope="col">{t.colStatus}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <MenuRow key={item.menuId} t={t} item={item} row={rows[item.menuId] ?? {}} setRow={(u) => setRow(item.menuId, u)} save={save} />
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

function MenuRow(props: {
  t: Messages;
  item: MenuItem;
  row: RowState;
  setRow: (u: (r: RowState) => RowState) => void;
  save: (item: MenuItem, patch: Patch) => Promise<void>;
}) {
  const { t, item, row, setRow, save } = props;
  const draft = row.draft ?? String(item.price);
  const dirty = row.draft !== undefined && row.draft !== String(item.price);
  const priceId = `price-${item.menuId}`;
  const messageId = `msg-${item.menuId}`;
  const parsedPrice = /^\d{1,8}$/.test(draft.trim()) ? Number(draft.trim()) : NaN;
  const priceValid = Number.isInteger(parsedPrice) && parsedPrice >= 1 && parsedPrice <= MAX_PRICE;

  const submitPrice = (e: Event) => {
    e.preventDefault();
    if (!dirty) return;
    if (!priceValid) {
      setRow((r) => ({ ...r, message: { kind: 'error', text: t.invalidPrice } }));
      return;
    }
    void save(item, { price: parsedPrice });
  };

  return (
    <>
      <tr class={`menu-row status-${item.status.toLowerCase()}`} data-menu-id={item.menuId} data-status={item.status} data-version={item.version}>
        <th scope="row">
          <span class="item-name">{item.name}</span>
          <span class="muted small block">
            {item.menuId} · v{item.version}
          </span>
        </th>
        <td>
          <form class="price-form" onSubmit={submitPrice}>
            <label class="visually-hidden" for={priceId}>
              {t.priceOf(item.name)}
            </label>
            <input
              id={priceId}
              class="price-input"
              type="text"
              inputMode="numeric"
              pattern="[0-9]*"
              autocomplete="off"
              value={draft}
              aria-invalid={row.draft !== undefined && !priceValid ? true : undefined}
              aria-describedby={row.message || row.conflict ? messageId : undefined}
              onInput={(e) => {
                const value = (e.target as HTMLInputElement).value;
                setRow((r) => ({ ...r, draft: value, message: undefined }));
              }}
            />
            <button type="submit" class="button secondary small" disabled={!dirty || row.busy}>
              {row.busy ? t.saving : t.save}
            </button>
          </form>
        </td>
        <td>
          <div class="segmented" role="group" aria-label={t.statusOf(item.name)}>
            {MENU_ITEM_STATUSES.map((s) => (
              <button
                key={s}
                type="button"
                class={`segment seg-${s.toLowerCase()}`}
                aria-pressed={item.status === s}
                disabled={row.busy}
                onClick={() => {
                  if (item.status !== s) void save(item, { status: s });
                }}
              >
                {t.itemStatus[s]}
              </button>
            ))}
          </div>
        </td>
      </tr>
      {(row.message || row.conflict) && <RowMessage t={t} messageId={messageId} row={row} setRow={setRow} save={save} />}
    </>
  );
}

/** Under a row: "Saved", an error, or a version conflict with its two ways out. */
function RowMessage(props: {
  t: Messages;
  messageId: string;
  row: RowState;
  setRow: (u: (r: RowState) => RowState) => void;
  save: (item: MenuItem, patch: Patch) => Promise<void>;
}) {
  const { t, messageId, row, setRow, save } = props;
  return (
    <tr class="row-message">
      <td colSpan={3} id={messageId}>
        {row.message && (
          <p class={`notice ${row.message.kind === 'ok' ? 'ok' : 'error'}`} role={row.message.kind === 'ok' ? 'status' : 'alert'}>
            {row.message.text}
          </p>
        )}
        {row.conflict && (
          <div class="notice warn conflict" role="alert">
            <p>
              <strong>{t.conflictTitle}</strong>{' '}
              {t.conflictBody(
                row.conflict.current.name,
                t.money(row.conflict.current.price),
                t.itemStatus[row.conflict.current.status],
                row.conflict.current.version,
              )}
            </p>
            <div class="actions">
              <button type="button" class="button secondary small" onClick={() => setRow(() => ({}))}>
                {t.useCurrent}
              </button>
              <button
                type="button"
                class="button primary small"
                onClick={() => {
                  const { attempted, current } = row.conflict!;
                  setRow((r) => ({ ...r, conflict: undefined }));
                  void save(current, attempted);
                }}
              >
                {t.applyMine}
              </button>
            </div>
          </div>
        )}
      </td>
    </tr>
  );
}
