/**
 * Running a command to completion with its output captured, for tests that
 * check what a tool or `main.ts` prints and how it exits.
 *
 * @module
 */

/** How a finished command ended and what it printed. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode runCommand}. */
export interface RunOptions {
  /** @default {the test's working directory} */
  cwd?: string;
  /** Environment variables; with `clearEnv`, the only ones. @default {{}} */
  env?: Record<string, string>;
  /** Start from an empty environment. @default {false} */
  clearEnv?: boolean;
}

/** Runs `cmd` with `args` and no input, and waits for it to exit. */
export async function runCommand(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}
