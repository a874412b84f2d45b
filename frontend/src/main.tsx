// The entry point: reads the build's settings (the API URL, how users sign in) and renders the page,
// or says which setting is bad.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { readAuthConfig } from './auth';
import './styles.css';

const root = createRoot(document.getElementById('root')!);
try {
  const auth = readAuthConfig(import.meta.env);
  root.render(
    <StrictMode>
      <App apiUrl={import.meta.env.VITE_API_URL ?? ''} auth={auth} />
    </StrictMode>,
  );
} catch (e) {
  root.render(<p className="message">Bad configuration: {e instanceof Error ? e.message : String(e)}</p>);
}
