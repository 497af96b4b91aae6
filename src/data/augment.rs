//! Augmentation: each training image is redrawn, per sample and per epoch,
//! through a random translation, rotation and scaling and an elastic
//! distortion (Simard, Steinkraus and Platt 2003), then resampled
//! bilinearly back to bytes. The draws are counter-based (`random.rs`):
//! a hash of (seed, epoch, image index), so they do not depend on the batch
//! order, the thread count or an interruption.
//!
//! Everything is written into buffers allocated once: a `Scratch` per
//! thread, and the training team's shared batch of redrawn images.

use crate::data::dataset::{Dataset, PIXELS};
use crate::data::idx::{IMAGE_COLS, IMAGE_ROWS};
use crate::random;

/// Keeps augmentation's draws apart from dropout's for the same seed.
const AUGMENT_STREAM: u64 = 0x5851_F42D_4C95_7F2D;

/// The largest rotation accepted: beyond it a 6 becomes a 9.
pub const MAX_ROTATE_DEGREES: f32 = 45.0;

/// What to draw for each image. Zero turns a distortion off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    /// Translations up to this many whole pixels along each axis.
    pub shift: usize,
    /// Rotations up to ± this many degrees.
    pub rotate_degrees: f32,
    /// Scalings by 1 ± up to this fraction, the same along both axes.
    pub scale: f32,
    /// Elastic distortion: the displacement field's strength α, in pixels.
    pub elastic_alpha: f32,
    /// ... and its smoothness σ, in pixels (Simard et al.: α 34, σ 4).
    pub elastic_sigma: f32,
}

impl Augment {
    pub fn elastic(&self) -> bool {
        self.elastic_alpha > 0.0
    }
}

/// Per-thread buffers: the whole batch's redrawn images, gathered from
/// the threads that drew them, and one image's working buffers.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    /// (B, 784) the batch's images after augmentation.
    pub images: Vec<u8>,
    pub resampler: Resampler,
}

/// One image's working buffers: the source as floats with a border of
/// zeros, where each output pixel reads it, and the elastic displacement
/// field (empty without elastic distortion).
#[derive(Debug, Clone, Default)]
pub struct Resampler {
    /// (PADDED²) the source image as f32, framed by `BORDER` zeros, so that
    /// resampling reads without bounds checks.
    source: Vec<f32>,
    /// (784) where each output pixel reads the source, then that point's
    /// fractional part.
    x: Vec<f32>,
    y: Vec<f32>,
    /// (784) the offset in `source` of each output pixel's top-left tap.
    at: Vec<u32>,
    /// (784 × 4) each output pixel's four taps.
    taps: Vec<f32>,
    /// (784) horizontal and vertical displacement of each pixel.
    dx: Vec<f32>,
    dy: Vec<f32>,
    /// (784) a blur pass's intermediate.
    blurred: Vec<f32>,
}

/// Zeros around the padded source: a bilinear tap two pixels outside the
/// image reads the same zero as one further out would.
const BORDER: usize = 2;
const PADDED: usize = IMAGE_COLS + 2 * BORDER;

impl Scratch {
    /// Buffers for batches of up to `batch_size` images.
    pub fn new(batch_size: usize, augment: &Augment) -> Self {
        let pixels = if augment.elastic() { PIXELS } else { 0 };
        Self {
            images: vec![0; batch_size * PIXELS],
            resampler: Resampler {
                source: vec![0.0; PADDED * PADDED],
                x: vec![0.0; PIXELS],
                y: vec![0.0; PIXELS],
                at: vec![0; PIXELS],
                taps: vec![0.0; 4 * PIXELS],
                dx: vec![0.0; pixels],
                dy: vec![0.0; pixels],
                blurred: vec![0.0; pixels],
            },
        }
    }
}

/// The key of image `index`'s draws in `epoch`.
pub fn sample_key(seed: u64, epoch: usize, index: usize) -> u64 {
    random::key(AUGMENT_STREAM, seed, &[epoch as u64, index as u64])
}

/// Writes the images `indices` of `data`, redrawn for `epoch`, into `out`
/// (784 bytes each, in order).
pub fn redraw(
    data: &Dataset,
    indices: &[usize],
    out: &mut [u8],
    augment: &Augment,
    (seed, epoch): (u64, usize),
    resampler: &mut Resampler,
) {
    for (image, &i) in out.chunks_exact_mut(PIXELS).zip(indices) {
        augment_image(
            data.image(i),
            image,
            augment,
            sample_key(seed, epoch, i),
            resampler,
        );
    }
}

// The numbered draws of one image's key.
const DRAW_SHIFT_X: u64 = 0;
const DRAW_SHIFT_Y: u64 = 1;
const DRAW_ROTATE: u64 = 2;
const DRAW_SCALE: u64 = 3;
/// The elastic field's draws start here: 2 per pixel.
const DRAW_FIELD: u64 = 16;

/// Writes `source` (784 bytes) redrawn under `key` into `out`.
pub fn augment_image(
    source: &[u8],
    out: &mut [u8],
    augment: &Augment,
    key: u64,
    resampler: &mut Resampler,
) {
    let whole_shift = |draw| {
        let choices = 2 * augment.shift as u64 + 1;
        ((random::bits24(key, draw) * choices) >> 24) as i64 - augment.shift as i64
    };
    let (shift_x, shift_y) = (whole_shift(DRAW_SHIFT_X), whole_shift(DRAW_SHIFT_Y));
    let elastic = augment.elastic();
    if augment.rotate_degrees == 0.0 && augment.scale == 0.0 && !elastic {
        translate(source, out, shift_x, shift_y);
        return;
    }
    let angle = (augment.rotate_degrees * random::symmetric(key, DRAW_ROTATE)).to_radians();
    let zoom = 1.0 + augment.scale * random::symmetric(key, DRAW_SCALE);
    if elastic {
        resampler.draw(key, augment.elastic_alpha, augment.elastic_sigma);
    }
    // Each output pixel reads the source where the inverse map sends it:
    // p_source = R(−angle) (p − centre) / zoom + centre − shift + field(p).
    let (sin, cos) = angle.sin_cos();
    let centre_x = (IMAGE_COLS as f32 - 1.0) / 2.0;
    let centre_y = (IMAGE_ROWS as f32 - 1.0) / 2.0;
    let Resampler { x, y, .. } = resampler;
    for (row, (x, y)) in x
        .chunks_exact_mut(IMAGE_COLS)
        .zip(y.chunks_exact_mut(IMAGE_COLS))
        .enumerate()
    {
        let v = row as f32 - centre_y;
        for (col, (x, y)) in x.iter_mut().zip(y).enumerate() {
            let u = col as f32 - centre_x;
            *x = (cos * u + sin * v) / zoom + centre_x - shift_x as f32;
            *y = (-sin * u + cos * v) / zoom + centre_y - shift_y as f32;
        }
    }
    if elastic {
        resampler
            .x
            .iter_mut()
            .zip(&resampler.dx)
            .for_each(|(x, d)| *x += d);
        resampler
            .y
            .iter_mut()
            .zip(&resampler.dy)
            .for_each(|(y, d)| *y += d);
    }
    resampler.resample(source, out);
}

/// `source` moved by whole pixels, zeros where it moved in from outside.
fn translate(source: &[u8], out: &mut [u8], shift_x: i64, shift_y: i64) {
    for row in 0..IMAGE_ROWS as i64 {
        let out_row = &mut out[row as usize * IMAGE_COLS..][..IMAGE_COLS];
        let from = row - shift_y;
        if !(0..IMAGE_ROWS as i64).contains(&from) {
            out_row.fill(0);
            continue;
        }
        let source_row = &source[from as usize * IMAGE_COLS..][..IMAGE_COLS];
        for (col, o) in out_row.iter_mut().enumerate() {
            let c = col as i64 - shift_x;
            *o = if (0..IMAGE_COLS as i64).contains(&c) {
                source_row[c as usize]
            } else {
                0
            };
        }
    }
}

impl Resampler {
    /// `out`[i] = `source` at (x[i], y[i]), interpolated between its four
    /// nearest pixels, with zeros outside; rounded to the nearest byte.
    ///
    /// In stages, so that all but the reading of the four pixels run
    /// vectorised: where each pixel's taps start and its fractions, then
    /// the taps, then the weighted sums. A tap further out than the zero
    /// frame is moved onto it, where it reads the same zero.
    fn resample(&mut self, source: &[u8], out: &mut [u8]) {
        self.pad(source);
        let tap = |t: f32| (t as i32).clamp(-(BORDER as i32), IMAGE_COLS as i32) + BORDER as i32;
        for ((x, y), at) in self.x.iter_mut().zip(&mut self.y).zip(&mut self.at) {
            let (x0, y0) = (x.floor(), y.floor());
            *at = (tap(y0) * PADDED as i32 + tap(x0)) as u32;
            *x -= x0;
            *y -= y0;
        }
        for (&at, taps) in self.at.iter().zip(self.taps.chunks_exact_mut(4)) {
            let at = at as usize;
            taps[0] = self.source[at];
            taps[1] = self.source[at + 1];
            taps[2] = self.source[at + PADDED];
            taps[3] = self.source[at + PADDED + 1];
        }
        for (((o, &fx), &fy), p) in out
            .iter_mut()
            .zip(&self.x)
            .zip(&self.y)
            .zip(self.taps.chunks_exact(4))
        {
            let top = p[0] * (1.0 - fx) + p[1] * fx;
            let bottom = p[2] * (1.0 - fx) + p[3] * fx;
            *o = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
        }
    }

    /// Copies `source` (784 bytes) into the middle of the zero frame.
    fn pad(&mut self, source: &[u8]) {
        for (padded_row, row) in self.source[BORDER * PADDED..]
            .chunks_exact_mut(PADDED)
            .zip(source.chunks_exact(IMAGE_COLS))
        {
            for (p, &s) in padded_row[BORDER..].iter_mut().zip(row) {
                *p = s as f32;
            }
        }
    }

    /// The elastic field: uniform noise in [−1, 1) per pixel and axis,
    /// smoothed by a Gaussian of std σ (three box blurs, each along rows
    /// then columns, zeros outside the image), times α.
    ///
    /// A pass down the columns runs all 28 columns in step, which the
    /// compiler vectorises; a pass along the rows is one down the columns
    /// of the transpose. So the noise is drawn transposed and each pass
    /// writes its result transposed for the next, the last one upright:
    /// the same sums in the same order as passes along rows and columns.
    fn draw(&mut self, key: u64, alpha: f32, sigma: f32) {
        let radius = box_radius(sigma);
        for (axis, field) in [&mut self.dx, &mut self.dy].into_iter().enumerate() {
            for (i, d) in self.blurred.iter_mut().enumerate() {
                let (col, row) = (i / IMAGE_ROWS, i % IMAGE_ROWS);
                let pixel = (row * IMAGE_COLS + col) as u64;
                *d = random::symmetric(key, DRAW_FIELD + 2 * pixel + axis as u64);
            }
            for pass in 0..3 {
                blur_columns(&self.blurred, field, radius, true);
                blur_columns(field, &mut self.blurred, radius, pass < 2);
            }
            field
                .iter_mut()
                .zip(&self.blurred)
                .for_each(|(d, &b)| *d = b * alpha);
        }
    }
}

/// The radius r of a box of width 2r + 1 whose threefold repetition has
/// the variance σ² of the Gaussian it stands for: 3 · ((2r + 1)² − 1) / 12.
fn box_radius(sigma: f32) -> usize {
    let width = (4.0 * sigma * sigma + 1.0).sqrt();
    ((width - 1.0) / 2.0).round().max(1.0) as usize
}

/// `out` = `field` (28 × 28) blurred down each column with a box of width
/// 2r + 1, pixels outside the image counting as zeros: a running sum per
/// column, all columns in step; written transposed if `transposed`.
fn blur_columns(field: &[f32], out: &mut [f32], radius: usize, transposed: bool) {
    const N: usize = IMAGE_ROWS;
    let norm = 1.0 / (2 * radius + 1) as f32;
    let row = |r: usize| -> &[f32; IMAGE_COLS] {
        field[r * IMAGE_COLS..][..IMAGE_COLS].try_into().unwrap()
    };
    let mut sum = *row(0);
    for r in 1..=radius.min(N - 1) {
        sum.iter_mut().zip(row(r)).for_each(|(s, v)| *s += v);
    }
    for r in 0..N {
        if transposed {
            for (c, s) in sum.iter().enumerate() {
                out[c * N + r] = s * norm;
            }
        } else {
            out[r * IMAGE_COLS..][..IMAGE_COLS]
                .iter_mut()
                .zip(&sum)
                .for_each(|(o, s)| *o = s * norm);
        }
        if r + radius + 1 < N {
            sum.iter_mut()
                .zip(row(r + radius + 1))
                .for_each(|(s, v)| *s += v);
        }
        if r >= radius {
            sum.iter_mut()
                .zip(row(r - radius))
                .for_each(|(s, v)| *s -= v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The source at (x, y) by the definition: four taps, zeros outside.
    fn bilinear_by_definition(source: &[u8], x: f32, y: f32) -> u8 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let pixel = |r: f32, c: f32| -> f32 {
            if (0.0..IMAGE_ROWS as f32).contains(&r) && (0.0..IMAGE_COLS as f32).contains(&c) {
                source[r as usize * IMAGE_COLS + c as usize] as f32
            } else {
                0.0
            }
        };
        let top = pixel(y0, x0) * (1.0 - fx) + pixel(y0, x0 + 1.0) * fx;
        let bottom = pixel(y0 + 1.0, x0) * (1.0 - fx) + pixel(y0 + 1.0, x0 + 1.0) * fx;
        (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8
    }

    #[test]
    fn staged_resampling_gives_the_bytes_of_bilinear_by_definition() {
        let source: Vec<u8> = (0..PIXELS)
            .map(|i| (random::bits24(7, i as u64) >> 16) as u8)
            .collect();
        let mut resampler = Scratch::new(
            1,
            &Augment {
                shift: 0,
                rotate_degrees: 0.0,
                scale: 0.0,
                elastic_alpha: 0.0,
                elastic_sigma: 4.0,
            },
        )
        .resampler;
        // Points from well outside the image to well inside, whole pixels
        // and borders among them.
        for round in 0..20u64 {
            for (i, (x, y)) in resampler.x.iter_mut().zip(&mut resampler.y).enumerate() {
                let draw = |axis: u64| 44.0 * random::uniform(round, 2 * i as u64 + axis) - 8.0;
                (*x, *y) = (draw(0), draw(1));
                if i % 7 == 0 {
                    *x = x.round();
                }
            }
            let points: Vec<(f32, f32)> = resampler
                .x
                .iter()
                .copied()
                .zip(resampler.y.iter().copied())
                .collect();
            let mut out = vec![0u8; PIXELS];
            resampler.resample(&source, &mut out);
            for (&(x, y), &got) in points.iter().zip(&out) {
                assert_eq!(got, bilinear_by_definition(&source, x, y), "at ({x}, {y})");
            }
        }
    }

    #[test]
    fn the_elastic_field_is_the_noise_box_blurred_along_rows_then_columns_three_times() {
        let (alpha, sigma, key) = (34.0, 4.0, 99);
        let radius = box_radius(sigma) as i64;
        let mut resampler = Scratch::new(
            1,
            &Augment {
                shift: 0,
                rotate_degrees: 0.0,
                scale: 0.0,
                elastic_alpha: alpha,
                elastic_sigma: sigma,
            },
        )
        .resampler;
        resampler.draw(key, alpha, sigma);
        for (axis, got) in [&resampler.dx, &resampler.dy].into_iter().enumerate() {
            let mut f: Vec<f64> = (0..PIXELS)
                .map(|i| random::symmetric(key, DRAW_FIELD + 2 * i as u64 + axis as u64) as f64)
                .collect();
            let at = |f: &[f64], r: i64, c: i64| -> f64 {
                if (0..28).contains(&r) && (0..28).contains(&c) {
                    f[(r * 28 + c) as usize]
                } else {
                    0.0
                }
            };
            let width = (2 * radius + 1) as f64;
            for _ in 0..3 {
                let rows: Vec<f64> = (0..PIXELS as i64)
                    .map(|i| {
                        (-radius..=radius)
                            .map(|d| at(&f, i / 28, i % 28 + d))
                            .sum::<f64>()
                            / width
                    })
                    .collect();
                f = (0..PIXELS as i64)
                    .map(|i| {
                        (-radius..=radius)
                            .map(|d| at(&rows, i / 28 + d, i % 28))
                            .sum::<f64>()
                            / width
                    })
                    .collect();
            }
            for (i, (&g, &want)) in got.iter().zip(&f).enumerate() {
                assert!(
                    (g as f64 - alpha as f64 * want).abs() < 1e-4,
                    "axis {axis} pixel {i}: {g} against {}",
                    alpha as f64 * want
                );
            }
            assert!(
                got.iter().any(|&g| g.abs() > 0.5),
                "a field of zeros passes"
            );
        }
    }
}
