// Public training API: optimizers, data utilities, the bundled MNIST digits,
// a progress bar and SVG charts, for driving modules compiled by bpc.

export { sgd, adam } from "./optim.js";
export type { Optimizer, ParamSet, GradSet, SgdOptions, AdamOptions } from "./optim.js";
export { rng, shuffle, batches, gather, gatherLabels } from "./data.js";
export type { MutableArrayLike, BatchOptions, Batches } from "./data.js";
export { loadMnist, splitTrainTest, subset, MNIST_PIXELS } from "./mnist.js";
export type { Dataset, PixelScale, LoadMnistOptions, TrainTestSplit } from "./mnist.js";
export { progressBar } from "./progress.js";
export type { ProgressBar, ProgressOptions, ProgressStream } from "./progress.js";
export { lineChartSvg, escapeXml } from "./plot.js";
export type { LineChartOptions, Series } from "./plot.js";
export { monitor, reportPage } from "./monitor.js";
export type { Monitor, MonitorOptions, Finding, Probes } from "./monitor.js";
