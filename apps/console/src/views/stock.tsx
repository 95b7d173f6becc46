import { useState } from 'preact/hooks';
import { ApiError, getJson, postJson, send } from '../api';
import { formatCount, formatMoney } from '../format';
import { usePoll } from '../hooks';
import type { Answer, Product } from '../types';
import { act, Empty, Loading, NeedsAdmin, Notice, Num, Page, Problem, useSession, Table } from '../ui';

/**
 * Stock: the catalog with what is available and what orders hold; the name and price edited
 * with `If-Match` (a product changed meanwhile is refused, not overwritten), and restocks as
 * relative adjustments, so no concurrent reservation is lost (docs/contract.md, "Stock").
 */
export function Stock() {
  const session = useSession();
  if (session?.role !== 'admin') return <Page title="Stock"><NeedsAdmin /></Page>;
  return <Catalog />;
}

function Catalog() {
  const catalog = usePoll(() => getJson<Answer<'listProducts'>>('/api/inventory?limit=1000'), 3000, []);
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  return (
    <Page title="Stock" lead="Available can be reserved; reserved is held by orders until they are charged or released.">
      <Notice notice={notice} />
      {catalog.error && !catalog.data ? (
        <Problem error={catalog.error} retry={() => void catalog.reload()} />
      ) : !catalog.data ? (
        <Loading what="the catalog" />
      ) : catalog.data.items.length === 0 ? (
        <Empty title="The catalog is empty">
          <p>
            Add a product with <code>PUT /api/inventory/&lt;productId&gt;</code> (docs/contract.md, "Stock").
          </p>
        </Empty>
      ) : (
        <Table class="stock" caption="Catalog" columns={['Product', 'Name', { label: 'Price', right: true }, { label: 'Available', right: true }, { label: 'Reserved', right: true }, 'Restock', { label: 'Edit', hidden: true }]}>
          {catalog.data.items.map((p) =>
            editing === p.productId ? (
              <EditRow key={p.productId} product={p} onDone={async (text) => (setEditing(null), text && setNotice(text), await catalog.reload())} />
            ) : (
              <tr key={p.productId} data-product={p.productId}>
                <th scope="row" class="mono">{p.productId}</th>
                <td>{p.name}</td>
                <td class="right"><Num>{formatMoney(p.price)}</Num></td>
                <td class="right"><Num><span data-testid={`available-${p.productId}`}>{formatCount(p.available)}</span></Num></td>
                <td class="right"><Num>{formatCount(p.reserved)}</Num></td>
                <td>
                  <Restock product={p} onDone={async (n) => (setNotice(n), await catalog.reload())} />
                </td>
                <td>
                  <button type="button" onClick={() => setEditing(p.productId)} aria-label={`Edit ${p.productId}`}>
                    Edit
                  </button>
                </td>
              </tr>
            ),
          )}
        </Table>
      )}
    </Page>
  );
}

type Done = (notice: { kind: 'ok' | 'error'; text: string }) => Promise<unknown>;

function Restock(props: { product: Product; onDone: Done }) {
  const [delta, setDelta] = useState('');
  const [busy, setBusy] = useState(false);
  const id = `restock-${props.product.productId}`;
  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    const n = Number(delta);
    if (!Number.isInteger(n) || n === 0) {
      await props.onDone({ kind: 'error', text: 'A restock is a whole number other than 0 (negative to take stock out).' });
      return;
    }
    setBusy(true);
    let notice: { kind: 'ok' | 'error'; text: string } = { kind: 'ok', text: '' };
    await act(async () => {
      const p = await postJson<Product>(`/api/inventory/${encodeURIComponent(props.product.productId)}/adjustments`, { delta: n, reason: 'restock from the operator console' });
      setDelta('');
      return `${p.productId}: ${n > 0 ? '+' : ''}${n}, available now ${formatCount(p.available)}.`;
    }, (x) => (notice = x));
    setBusy(false);
    await props.onDone(notice);
  }
  return (
    <form class="inline" onSubmit={(e) => void submit(e)}>
      <label for={id} class="sr-only">
        Restock {props.product.productId} by
      </label>
      <input id={id} type="number" step={1} inputMode="numeric" placeholder="+/−" value={delta} onInput={(e) => setDelta((e.target as HTMLInputElement).value)} required />
      <button type="submit" disabled={busy}>
        Apply
      </button>
    </form>
  );
}

function EditRow(props: { product: Product; onDone: (notice: { kind: 'ok' | 'error'; text: string } | null) => Promise<unknown> }) {
  const p = props.product;
  const [name, setName] = useState(p.name);
  const [price, setPrice] = useState(String(p.price));
  async function save(e: Event): Promise<void> {
    e.preventDefault();
    // The stock is sent back as read: If-Match refuses the write if anything (a reservation too) changed it since.
    try {
      const res = await send('PUT', `/api/inventory/${encodeURIComponent(p.productId)}`, {
        body: { name: name.trim(), price: Number(price), available: p.available },
        headers: { 'If-Match': `"${p.version}"` },
      });
      const saved = (await res.json()) as Product;
      await props.onDone({ kind: 'ok', text: `${saved.productId} saved: ${saved.name} at ${formatMoney(saved.price)}.` });
    } catch (err) {
      const e = err as ApiError;
      const text =
        e.code === 'INVENTORY.VERSION_MISMATCH'
          ? `${p.productId} changed meanwhile (an order reserved or released stock): it is shown as it is now; edit it again.`
          : `${p.productId} not saved: ${e.message}`;
      await props.onDone({ kind: 'error', text });
    }
  }
  return (
    <tr class="editing">
      <th scope="row" class="mono">{p.productId}</th>
      <td colSpan={6}>
        <form class="inline" onSubmit={(e) => void save(e)}>
          <label for="edit-name">Name</label>
          <input id="edit-name" value={name} maxLength={200} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          <label for="edit-price">Price</label>
          <input id="edit-price" type="number" min={0} step="0.01" value={price} required onInput={(e) => setPrice((e.target as HTMLInputElement).value)} />
          <button type="submit" class="primary">Save</button>
          <button type="button" onClick={() => void props.onDone(null)}>Cancel</button>
        </form>
      </td>
    </tr>
  );
}
