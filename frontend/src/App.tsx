import { useCallback, useEffect, useRef, useState } from 'react';
import type { AuthConfig, UserTokens } from './auth';
import { AuthBar } from './AuthBar';
import {
  canonicalBody,
  createBrowserClient,
  type AttemptEvent,
  type IdempotencyClient,
  type Intent,
  type KeyMode,
  type SendResult,
} from './idempotency';

interface Order {
  id: string;
  item: string;
  quantity: number;
  customer?: string | null;
  status: string;
  created_at: string;
}

interface LogLine extends AttemptEvent {
  n: number;
  at: string;
}

const SIMULATE_HEADER = 'X-Simulate-Work-Ms';

export function App({ apiUrl, auth = { mode: 'none' } }: { apiUrl: string; auth?: AuthConfig }) {
  const [client, setClient] = useState<IdempotencyClient | null>(null);
  // The signed-in user (auth on); each user gets their own client, cache and offline queue.
  const [user, setUser] = useState<UserTokens | null>(null);
  const needsUser = auth.mode !== 'none';
  const [storage, setStorage] = useState('');
  const [item, setItem] = useState('notebook');
  const [quantity, setQuantity] = useState('1');
  const [mode, setMode] = useState<KeyMode>('uuid');
  const [raceCount, setRaceCount] = useState('20');
  const [workMs, setWorkMs] = useState('0');
  const [log, setLog] = useState<LogLine[]>([]);
  const [order, setOrder] = useState<Order | null>(null);
  const [message, setMessage] = useState('');
  const [pending, setPending] = useState(0);
  const [queued, setQueued] = useState(0);
  const [online, setOnline] = useState(typeof navigator === 'undefined' ? true : navigator.onLine);
  const counter = useRef(0);
  // The client whose answers the page shows (the signed-in user's).
  const liveClient = useRef<IdempotencyClient | null>(null);
  // The current intent: reused (same key) while the payload and mode stay the same.
  const intentRef = useRef<{ payload: string; mode: KeyMode; intent: Promise<Intent> } | null>(null);

  const showResult = useCallback((r: SendResult) => {
    if (r.queued) {
      setMessage(`Queued (key ${short(r.key)}): it will be sent when the browser is back online.`);
      return;
    }
    if (r.response && r.status >= 200 && r.status < 300) {
      try {
        setOrder(JSON.parse(r.response.body) as Order);
      } catch {
        /* not an order */
      }
      const how =
        r.source === 'cache'
          ? 'from the client cache (no request sent)'
          : r.replayed
            ? 'replayed by the server'
            : r.source === 'queue'
              ? 'sent from the offline queue'
              : 'created';
      setMessage(`${r.status} ${how} in ${r.latencyMs.toFixed(1)} ms`);
    } else if (r.response) {
      let detail = '';
      try {
        const p = JSON.parse(r.response.body) as { title?: string; detail?: string };
        detail = [p.title, p.detail].filter(Boolean).join(': ');
      } catch {
        /* not a problem document */
      }
      setMessage(`${r.status} ${detail}`);
    } else {
      setMessage(r.error ?? 'no answer');
    }
  }, []);

  const refreshQueued = useCallback(async (c: IdempotencyClient) => {
    setQueued((await c.queue.list()).length);
  }, []);

  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
    };
  }, []);

  // What the page shows of a user: cleared in the same render as the user changes.
  const clearView = () => {
    setOrder(null);
    setLog([]);
    setMessage('');
    setQueued(0);
    intentRef.current = null;
  };

  // One client per user (or one anonymous client without auth), on that user's own stores.
  useEffect(() => {
    let stop = () => {};
    let cancelled = false;
    let created: IdempotencyClient | null = null;
    setClient(null);
    liveClient.current = null;
    if (needsUser && !user) return;
    void createBrowserClient({
      baseUrl: apiUrl,
      credentials: user ?? undefined,
      // A client that is no longer the page's (its user switched) reports nothing to the page.
      onAttempt: (e) => {
        if (created !== liveClient.current) return;
        const n = ++counter.current;
        setLog((l) => [...l, { ...e, n, at: new Date().toISOString().slice(11, 23) }]);
      },
      onQueueResult: (r) => created === liveClient.current && showResult(r),
    }).then(({ client: c, storage: kind }) => {
      if (cancelled) return;
      created = liveClient.current = c;
      setClient(c);
      setStorage(kind);
      void refreshQueued(c);
      stop = c.autoReplay(window);
    });
    return () => {
      cancelled = true;
      stop();
      created?.close();
      if (liveClient.current === created) liveClient.current = null;
    };
  }, [apiUrl, needsUser, user, showResult, refreshQueued]);

  const signIn = (tokens: UserTokens) => {
    if (tokens === user) return;
    user?.signOut(); // the last user's requests are never sent with the new token
    liveClient.current = null;
    clearView();
    setUser(tokens);
  };
  const signOut = () => {
    user?.signOut();
    liveClient.current = null;
    clearView();
    setUser(null);
  };

  // After the queue is replayed (online), refresh its count.
  useEffect(() => {
    if (client) void refreshQueued(client);
  }, [client, online, log.length, refreshQueued]);

  const body = () => JSON.stringify({ item, quantity: Number(quantity) });

  const currentIntent = (fresh: boolean): Promise<Intent> => {
    const text = body();
    const payload = canonicalBody(text);
    const cur = intentRef.current;
    if (!fresh && cur && cur.payload === payload && cur.mode === mode) return cur.intent;
    const intent = client!.createIntent({ method: 'POST', path: '/orders', body: text }, mode);
    intentRef.current = { payload, mode, intent };
    return intent;
  };

  const extraHeaders = (): Record<string, string> | undefined =>
    Number(workMs) > 0 ? { [SIMULATE_HEADER]: String(Number(workMs)) } : undefined;

  const track = async <T,>(p: Promise<T>): Promise<T> => {
    setPending((n) => n + 1);
    try {
      return await p;
    } finally {
      setPending((n) => n - 1);
    }
  };

  const submit = async (e?: React.FormEvent) => {
    e?.preventDefault();
    if (!client) return;
    const r = await track(currentIntent(false).then((i) => client.send(i, { headers: extraHeaders() })));
    if (client === liveClient.current) showResult(r);
  };

  const race = async () => {
    if (!client) return;
    const n = Math.max(1, Math.min(100, Number(raceCount) || 1));
    // A new intent (in uuid mode a new key), fired n times at once with the same key, bypassing
    // the client's own cache and in-flight sharing: the server alone has to keep it to one order.
    const intent = await currentIntent(mode === 'uuid');
    const results = await track(
      Promise.all(
        Array.from({ length: n }, () =>
          client.send(intent, { useCache: false, shareInFlight: false, headers: extraHeaders() }),
        ),
      ),
    );
    if (client !== liveClient.current) return;
    const ids = new Set(
      results.filter((r) => r.status === 201 && r.response).map((r) => (JSON.parse(r.response!.body) as Order).id),
    );
    const created = results.filter((r) => r.status === 201 && !r.replayed).length;
    const last = results.find((r) => r.status === 201) ?? results[0];
    showResult(last);
    setMessage(
      `Race of ${n}: ${created} created, ${results.filter((r) => r.replayed).length} replayed, ${ids.size} distinct order id(s); statuses ${summary(results.map((r) => r.status))}`,
    );
  };

  const newIntent = () => {
    intentRef.current = null;
    setOrder(null);
    setMessage('New intent: the next submit gets a new key.');
  };

  return (
    <main>
      <header>
        <h1>Oncely: exactly-once orders</h1>
        <p className="meta">
          API <code data-testid="api-url">{apiUrl || '(VITE_API_URL is not set: run `cargo run -- up --local`)'}</code>{' '}
          · cache in <code>{storage || '…'}</code> ·{' '}
          <span data-testid="online" data-online={String(online)}>
            {online ? 'online' : 'offline'}
          </span>{' '}
          · queued{' '}
          <span data-testid="queued" data-count={queued}>
            {queued}
          </span>{' '}
          · in flight{' '}
          <span data-testid="pending" data-count={pending}>
            {pending}
          </span>
        </p>
        {auth.mode !== 'none' ? <AuthBar auth={auth} user={user} onSignIn={signIn} onSignOut={signOut} /> : null}
      </header>

      <form onSubmit={submit}>
        <label>
          Item <input data-testid="item" value={item} maxLength={100} onChange={(e) => setItem(e.target.value)} />
        </label>
        <label>
          Quantity{' '}
          <input
            data-testid="quantity"
            type="number"
            min={1}
            max={1000}
            value={quantity}
            onChange={(e) => setQuantity(e.target.value)}
          />
        </label>
        <fieldset>
          <legend>Idempotency key</legend>
          <label>
            <input
              type="radio"
              name="mode"
              data-testid="mode-uuid"
              checked={mode === 'uuid'}
              onChange={() => setMode('uuid')}
            />{' '}
            a UUID per intent
          </label>
          <label>
            <input
              type="radio"
              name="mode"
              data-testid="mode-fingerprint"
              checked={mode === 'fingerprint'}
              onChange={() => setMode('fingerprint')}
            />{' '}
            SHA-256 fingerprint of the request
          </label>
        </fieldset>
        <div className="buttons">
          <button type="submit" data-testid="submit" disabled={!client}>
            Place order
          </button>
          <button type="button" data-testid="new-intent" onClick={newIntent}>
            New intent
          </button>
        </div>
        <div className="buttons">
          <label>
            Race: fire{' '}
            <input
              data-testid="race-count"
              type="number"
              min={1}
              max={100}
              value={raceCount}
              onChange={(e) => setRaceCount(e.target.value)}
            />{' '}
            identical requests at once
          </label>
          <button type="button" data-testid="race" onClick={race} disabled={!client}>
            Race
          </button>
          <label title="Asks the server to work this long before completing, with X-Simulate-Work-Ms. Needs ORDERS_SIMULATED_WORK_MAX_MS in function.environment and x-simulate-work-ms in api.cors.allow_headers; otherwise the browser's CORS check fails and the request looks like a network error.">
            server work{' '}
            <input
              data-testid="work-ms"
              type="number"
              min={0}
              max={10000}
              value={workMs}
              onChange={(e) => setWorkMs(e.target.value)}
            />{' '}
            ms
          </label>
        </div>
      </form>

      <p data-testid="message" className="message">
        {message}
      </p>

      <section>
        <h2>Order</h2>
        {order ? (
          <dl className="order">
            <dt>id</dt>
            <dd data-testid="order-id">{order.id}</dd>
            <dt>item</dt>
            <dd>{order.item}</dd>
            <dt>quantity</dt>
            <dd>{order.quantity}</dd>
            <dt>status</dt>
            <dd>{order.status}</dd>
            <dt>created</dt>
            <dd>{order.created_at}</dd>
          </dl>
        ) : (
          <p className="meta">none yet</p>
        )}
      </section>

      <section>
        <h2>
          Attempts{' '}
          <button type="button" onClick={() => setLog([])}>
            clear
          </button>
        </h2>
        <table>
          <thead>
            <tr>
              <th>#</th>
              <th>time</th>
              <th>key</th>
              <th>source</th>
              <th>status</th>
              <th>replayed</th>
              <th>latency</th>
              <th>note</th>
            </tr>
          </thead>
          <tbody data-testid="attempts">
            {log.map((l) => (
              <tr
                key={l.n}
                data-status={l.status === 0 ? (l.source === 'queue' ? 'queued' : 'network-error') : String(l.status)}
                data-source={l.source}
                data-replayed={String(l.replayed)}
                data-key={l.key}
                data-latency={l.latencyMs.toFixed(1)}
                className={`src-${l.source}`}
              >
                <td>{l.n}</td>
                <td>{l.at}</td>
                <td title={l.key}>
                  <code>{short(l.key)}</code>
                </td>
                <td>{sourceLabel(l.source)}</td>
                <td>{l.status === 0 ? (l.source === 'queue' ? 'queued' : 'network error') : l.status}</td>
                <td>{l.replayed ? 'yes' : ''}</td>
                <td>{l.latencyMs.toFixed(1)} ms</td>
                <td>
                  {[
                    l.attempt > 0 ? `attempt ${l.attempt}` : '',
                    l.retryInMs !== undefined ? `retry in ${l.retryInMs} ms` : '',
                    l.note ?? '',
                  ]
                    .filter(Boolean)
                    .join(' · ')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </main>
  );
}

function short(key: string) {
  return key.length > 13 ? `${key.slice(0, 8)}…${key.slice(-4)}` : key;
}

function sourceLabel(s: string) {
  return s === 'cache'
    ? 'client cache'
    : s === 'queue'
      ? 'offline queue'
      : s === 'shared'
        ? 'shared in-flight'
        : 'network';
}

function summary(statuses: number[]) {
  const m = new Map<number, number>();
  for (const s of statuses) m.set(s, (m.get(s) ?? 0) + 1);
  return [...m.entries()].map(([s, n]) => `${s}×${n}`).join(', ');
}
