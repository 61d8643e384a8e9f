// Pure text formatting shared by the panels: numbers, run descriptions, the plane's explanation.

// A number in at most `digits` decimals; integers as they are, very small or large ones in exponent form.
export function fmt(v, digits = 3) {
  if (typeof v !== "number") return v === null || v === undefined ? "–" : String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(digits);
}

// Nested settings as [dotted key, text] rows (arrays inline), for the config list.
export function flatten(obj, prefix = "", out = []) {
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, `${prefix}${k}.`, out);
    else out.push([prefix + k, Array.isArray(v) ? `[${v.join(", ")}]` : String(v)]);
  }
  return out;
}

// One line under the page title: what kind of model, what data, how far it trained.
export function describeRun(run) {
  const parts = [run.variational ? "VAE" : `${run.kind} autoencoder`, `${run.latent_dim}-D latent`, run.dataset];
  if (run.denoising) parts.push(`denoising (${run.noise.kind} ${run.noise.factor})`);
  if (run.epochs_done) parts.push(`${run.epochs_done} epoch${run.epochs_done === 1 ? "" : "s"}`);
  return parts.join(" · ");
}

// The run picker's label of one run.
export function runLabel(run) {
  return `${run.id} (${run.variational ? "vae" : run.kind}, ${run.latent_dim}-D)`;
}

// The names of the plane's axes: principal components, or the code itself.
export function axisNames(latent) {
  return latent.plane === "pca" ? ["PC1", "PC2"] : ["z₁", "z₂"];
}

// What the plane shows and how a point on it becomes a code.
export function planeNote(latent, run) {
  if (run.data_error) return run.data_error;
  const shown = `${latent.points.length.toLocaleString()} of ${latent.n_test.toLocaleString()} test images`;
  if (latent.plane === "pca") {
    const share = latent.explained.map((e) => `${Math.round(e * 100)}%`).join(" + ");
    return `${shown}, projected from the ${latent.latent_dim}-D codes onto their first two principal components ` +
      `(${share} of the variance). A point (a, b) is decoded from mean + a·PC1 + b·PC2: the other ` +
      `${latent.latent_dim - 2} directions stay at the data's mean.`;
  }
  const what = run.variational ? "Posterior means" : "Codes";
  const one = latent.latent_dim === 1 ? " The latent is 1-D: only the horizontal axis matters." : "";
  return `${what} of ${shown}, coloured by class. Move over the plane to decode any point; click to pin one.${one}`;
}
