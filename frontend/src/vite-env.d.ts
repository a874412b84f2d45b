/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The API endpoint, written into .env.local by `cargo run -- up --local` or `sync-endpoint`. */
  readonly VITE_API_URL?: string;
}
