// A terminal progress bar for training loops. On a TTY it redraws one line in
// place; elsewhere (CI logs, files) redrawing would spam carriage returns, so
// it prints a plain line at every ~10 % instead.

import pc from "picocolors";

/** The part of a writable stream the bar uses (process.stderr fits). */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options for {@link progressBar}. */
export interface ProgressOptions {
  /** Steps in this epoch (e.g. `batches(...).count`). */
  total: number;
  /** 1-based epoch number shown as "epoch 2/10" (omit to hide the epoch). */
  epoch?: number;
  epochs?: number;
  /** Where to draw (default process.stderr). */
  stream?: ProgressStream;
  /** Weight of the history in the exponential moving average of the loss (default 0.9). */
  smoothing?: number;
  /** Clock in milliseconds (default performance.now); injectable for tests. */
  now?: () => number;
}

/** A running progress bar; see {@link progressBar}. */
export interface ProgressBar {
  /** Records one finished step with its batch loss and batch size. */
  tick(loss: number, examples: number): void;
  /** Finishes the line (call once, after the last step). */
  done(): void;
  /** Bias-corrected moving average of the loss so far (NaN before the first tick). */
  readonly smoothedLoss: number;
}

// Redrawing on every step would cost more than a small model's step itself.
const REDRAW_MS = 50;

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

function formatLoss(loss: number): string {
  if (!Number.isFinite(loss)) return String(loss);
  return Math.abs(loss) >= 1000 ? loss.toExponential(3) : loss.toFixed(4);
}

/**
 * Starts a progress bar showing epoch, step/total, a bar, the smoothed loss
 * and throughput in examples/s. Colour is used only when the stream is a TTY
 * and NO_COLOR is unset; a non-finite loss is shown in red.
 */
export function progressBar(options: ProgressOptions): ProgressBar {
  const { total, epoch, epochs, stream = process.stderr, smoothing = 0.9, now = () => performance.now() } = options;
  if (!Number.isInteger(total) || total < 0)
    throw new Error(`progressBar: total must be a non-negative integer, got ${total}`);
  if (!(smoothing >= 0 && smoothing < 1)) throw new Error(`progressBar: smoothing must be in [0, 1), got ${smoothing}`);
  const tty = stream.isTTY === true;
  const c = pc.createColors(tty && !process.env.NO_COLOR && process.env.TERM !== "dumb");
  const start = now();
  let step = 0;
  let examples = 0;
  let ema = 0;
  let emaUpdates = 0;
  let lastLoss = NaN;
  let lastDraw = -Infinity;
  let lastDecile = 0;
  let finished = false;

  const smoothed = () => (emaUpdates === 0 ? NaN : ema / (1 - smoothing ** emaUpdates));

  const describe = (): { head: string; tail: string } => {
    const seconds = (now() - start) / 1000;
    const rate = seconds > 0 ? examples / seconds : 0;
    const epochText = epoch === undefined ? "" : `epoch ${epoch}${epochs === undefined ? "" : `/${epochs}`} `;
    const width = String(total).length;
    const loss = smoothed();
    // The smoothed loss can be finite while the latest batch diverged: flag that too.
    const lossText =
      step === 0 ? "-" : Number.isFinite(lastLoss) ? c.yellow(formatLoss(loss)) : c.red(formatLoss(lastLoss));
    const eta = step > 0 ? ((total - step) * seconds) / step : NaN;
    return {
      head: c.bold(epochText) + `${String(step).padStart(width)}/${total}`,
      tail: `loss ${lossText}  ${c.cyan(Math.round(rate).toLocaleString("en-US"))} ex/s  ${c.dim(`${formatDuration(seconds)}<${formatDuration(eta)}`)}`,
    };
  };

  const draw = () => {
    const { head, tail } = describe();
    const barWidth = Math.max(10, Math.min(30, (stream.columns ?? 80) - 70));
    const filled = total === 0 ? barWidth : Math.round((step / total) * barWidth);
    const bar = c.green("█".repeat(filled)) + c.dim("░".repeat(barWidth - filled));
    // \r returns to column 0 and ESC[K clears leftovers of a longer previous line.
    stream.write(`\r${head} ${bar} ${tail}\x1b[K`);
    lastDraw = now();
  };

  const printLine = () => {
    const { head, tail } = describe();
    const pct = total === 0 ? 100 : Math.floor((step / total) * 100);
    stream.write(`${head} (${String(pct).padStart(3)}%)  ${tail}\n`);
  };

  return {
    tick(loss, batchExamples) {
      if (finished) throw new Error("progressBar: tick() after done()");
      step++;
      examples += batchExamples;
      lastLoss = loss;
      // A NaN/Infinity batch would poison the average for the rest of the epoch.
      if (Number.isFinite(loss)) {
        ema = smoothing * ema + (1 - smoothing) * loss;
        emaUpdates++;
      }
      if (tty) {
        if (step >= total || now() - lastDraw >= REDRAW_MS) draw();
        return;
      }
      const decile = total === 0 ? 10 : Math.floor((step * 10) / total);
      if (decile > lastDecile) {
        lastDecile = decile;
        printLine();
      }
    },
    done() {
      if (finished) return;
      finished = true;
      if (tty) {
        draw();
        stream.write("\n");
      } else if (lastDecile < 10) {
        printLine();
      }
    },
    get smoothedLoss() {
      return smoothed();
    },
  };
}
