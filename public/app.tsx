/**
 * Parley's browser client (placeholder until the client lands).
 *
 * @module
 */
import { render } from "preact";

function App() {
  return <h1>Parley</h1>;
}

const root = document.getElementById("app");
if (root) render(<App />, root);
