// The page: the order form and its intents (a key per intent, reused by every retry of it), the
// Order panel (the focused intent's order), the stack's numbers, and the attempts as a timeline
// and a table. One idempotency client per signed-in user, on that user's own stores.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { AuthConfig, UserTokens } from './auth';
import { AuthBar } from './AuthBar';
import {
  canonicalBody,
  createBrowserClient,
  fingerprint,
  type IdempotencyClient,
  type Intent,
  type KeyMode,
  type SendResult,
} from './idempotency';
import { AttemptsTable } from './view/AttemptsTable';
import { MetricsPanel } from './view/MetricsPanel';
import { Timeline } from './view/Timeline';
import { shortKey as short, type LogLine } from './view/attempts';

interface Order {
  id: string;
  item: string;
  quantity: number;
  customer?: string | null;
  status: string;
  created_at: string;
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
  // Every order an answer carried, by its intent's key; the panel shows the focused intent's: the
  // one the user submitted last, or picked in the timeline (never whichever answer came last).
  const [orders, setOrders] = useState<Record<string, Order>>({});
  const [focusKey, setFocusKey] = useState<string | null>(null);
  const focusRef = useRef<string | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [message, setMessage] = useState('');
  const [pending, setPending] = useState(0);
  const [queued, setQueued] = useState(0);
  const [online, setOnline] = useState(typeof navigator === 'undefined' ? true : navigator.onLine);
  const counter = useRef(0);
  // The client whose answers the page shows (the signed-in user's).
  const liveClient = useRef<IdempotencyClient | null>(null);
  // The current intent: reused (same key) while the payload and mode stay the same.
  const intentRef = useRef<{ payload: string; mode: KeyMode; intent: Promise<Intent> } | null>(null);

  const focus = useCallback((key: string | null) => {
    focusRef.current = key;
    setFocusKey(key);
  }, []);

  // Keeps the order an answer carries; says what happened only for the focused intent.
  const showResult = useCallback((r: SendResult) => {
    if (r.response && r.status >= 200 && r.status < 300) {
      try {
        const order = JSON.parse(r.response.body) as Order;
        setOrders((o) => ({ ...o, [r.key]: order }));
      } catch {
        /* not an order */
      }
    }
    if (r.key !== focusRef.current) return;
    if (r.queued) {
      setMessage(`Queued (key ${short(r.key)}): it will be sent when the browser is back online.`);
      return;
    }
    if (r.response && r.status >= 200 && r.status < 300) {
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
    setOrders({});
    focus(null);
    setSelected(null);
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
        const at = new Date().toISOString().slice(11, 23);
        setLog((l) => [...l, { ...e, n, at, endMs: performance.now() }]);
      },
      // A queued intent sent now completes what the user submitted earlier: it takes the panel
      // unless the user has started another intent since.
      onQueueResult: (r) => {
        if (created !== liveClient.current) return;
        if (focusRef.current === null) focus(r.key);
        showResult(r);
      },
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
  }, [apiUrl, needsUser, user, showResult, refreshQueued, focus]);

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
    const r = await track(
      currentIntent(false).then((i) => {
        focus(i.key);
        return client.send(i, { headers: extraHeaders() });
      }),
    );
    if (client === liveClient.current) showResult(r);
  };

  const race = async () => {
    if (!client) return;
    const n = Math.max(1, Math.min(100, Number(raceCount) || 1));
    // A new intent (in uuid mode a new key), fired n times at once with the same key, bypassing
    // the client's own cache and in-flight sharing: the server alone has to keep it to one order.
    const intent = await currentIntent(mode === 'uuid');
    focus(intent.key);
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
    if (intent.key !== focusRef.current) return;
    setMessage(
      `Race of ${n}: ${created} created, ${results.filter((r) => r.replayed).length} replayed, ${ids.size} distinct order id(s); statuses ${summary(results.map((r) => r.status))}`,
    );
  };

  const newIntent = () => {
    intentRef.current = null;
    focus(null);
    setMessage('New intent: the next submit gets a new key.');
  };

  // The last intent's key sent with the form's payload as it is now: the server must refuse it
  // (422) when the payload changed, and nothing may be answered from the client's cache.
  const reuseKey = async () => {
    const last = intentRef.current && (await intentRef.current.intent);
    if (!client || !last) return;
    const request = { method: 'POST', path: '/orders', body: body() };
    const intent: Intent = { key: last.key, mode: last.mode, fingerprint: await fingerprint(request), request };
    focus(last.key);
    const r = await track(client.send(intent, { useCache: false, shareInFlight: false, headers: extraHeaders() }));
    if (client === liveClient.current) showResult(r);
  };

  const order = focusKey ? (orders[focusKey] ?? null) : null;

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
          <button
            type="button"
            data-testid="reuse-key"
            onClick={reuseKey}
            disabled={!client}
            title="Sends the form as it is now with the last intent's key: another payload gets 422"
          >
            Reuse the last key
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

      <section aria-labelledby="order-title">
        <h2 id="order-title">Order</h2>
        {focusKey ? (
          <p className="meta">
            intent <code data-testid="order-key">{short(focusKey)}</code>
          </p>
        ) : null}
        {order ? (
          <dl className="order">
            <dt>id</dt>
            <dd data-testid="order-id">{order.id}</dd>
            <dt>item</dt>
            <dd data-testid="order-item">{order.item}</dd>
            <dt>quantity</dt>
            <dd>{order.quantity}</dd>
            <dt>status</dt>
            <dd>{order.status}</dd>
            <dt>created</dt>
            <dd>{order.created_at}</dd>
          </dl>
        ) : (
          <p className="meta">{focusKey ? 'no order for this intent (yet)' : 'none yet'}</p>
        )}
      </section>

      <MetricsPanel apiUrl={apiUrl} />

      <section aria-labelledby="attempts-title">
        <h2 id="attempts-title">
          Attempts{' '}
          <button
            type="button"
            aria-label="Clear the attempts"
            onClick={() => {
              setLog([]);
              setSelected(null);
            }}
          >
            clear
          </button>
        </h2>
        <Timeline log={log} selected={selected} onSelect={setSelected} focusKey={focusKey} onPickIntent={focus} />
        <AttemptsTable log={log} selected={selected} />
      </section>
    </main>
  );
}

function summary(statuses: number[]) {
  const m = new Map<number, number>();
  for (const s of statuses) m.set(s, (m.get(s) ?? 0) + 1);
  return [...m.entries()].map(([s, n]) => `${s}×${n}`).join(', ');
}
