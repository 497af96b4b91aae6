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
/// the threads that drew them, and the elastic displacement field.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    /// (B, 784) the batch's images after augmentation.
    pub images: Vec<u8>,
    pub field: Field,
}

/// The elastic displacement field of one image; empty without elastic
/// distortion.
#[derive(Debug, Clone, Default)]
pub struct Field {
    /// (784) horizontal and vertical displacement of each pixel.
    dx: Vec<f32>,
    dy: Vec<f32>,
    /// (784) a blur pass's intermediate.
    blurred: Vec<f32>,
}

impl Scratch {
    /// Buffers for batches of up to `batch_size` images.
    pub fn new(batch_size: usize, augment: &Augment) -> Self {
        let pixels = if augment.elastic() { PIXELS } else { 0 };
        Self {
            images: vec![0; batch_size * PIXELS],
            field: Field {
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
    field: &mut Field,
) {
    for (image, &i) in out.chunks_exact_mut(PIXELS).zip(indices) {
        augment_image(
            data.image(i),
            image,
            augment,
            sample_key(seed, epoch, i),
            field,
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
    field: &mut Field,
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
        field.draw(key, augment.elastic_alpha, augment.elastic_sigma);
    }
    // Each output pixel reads the source where the inverse map sends it:
    // p_source = R(−angle) (p − centre) / zoom + centre − shift + field(p).
    let (sin, cos) = angle.sin_cos();
    let centre_x = (IMAGE_COLS as f32 - 1.0) / 2.0;
    let centre_y = (IMAGE_ROWS as f32 - 1.0) / 2.0;
    for row in 0..IMAGE_ROWS {
        for col in 0..IMAGE_COLS {
            let u = col as f32 - centre_x;
            let v = row as f32 - centre_y;
            let mut x = (cos * u + sin * v) / zoom + centre_x - shift_x as f32;
            let mut y = (-sin * u + cos * v) / zoom + centre_y - shift_y as f32;
            if elastic {
                x += field.dx[row * IMAGE_COLS + col];
                y += field.dy[row * IMAGE_COLS + col];
            }
            out[row * IMAGE_COLS + col] = bilinear(source, x, y);
        }
    }
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

/// The source image at (x, y), interpolated between its four nearest
/// pixels, with zeros outside; rounded to the nearest byte.
fn bilinear(source: &[u8], x: f32, y: f32) -> u8 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let pixel = |r: i64, c: i64| -> f32 {
        if (0..IMAGE_ROWS as i64).contains(&r) && (0..IMAGE_COLS as i64).contains(&c) {
            source[r as usize * IMAGE_COLS + c as usize] as f32
        } else {
            0.0
        }
    };
    let top = pixel(y0, x0) * (1.0 - fx) + pixel(y0, x0 + 1) * fx;
    let bottom = pixel(y0 + 1, x0) * (1.0 - fx) + pixel(y0 + 1, x0 + 1) * fx;
    (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8
}

impl Field {
    /// The elastic field: uniform noise in [−1, 1) per pixel and axis,
    /// smoothed by a Gaussian of std σ (three box blurs, zeros outside the
    /// image), times α.
    fn draw(&mut self, key: u64, alpha: f32, sigma: f32) {
        for (i, (dx, dy)) in self.dx.iter_mut().zip(&mut self.dy).enumerate() {
            *dx = random::symmetric(key, DRAW_FIELD + 2 * i as u64);
            *dy = random::symmetric(key, DRAW_FIELD + 2 * i as u64 + 1);
        }
        let radius = box_radius(sigma);
        for field in [&mut self.dx, &mut self.dy] {
            for _ in 0..3 {
                box_blur(field, &mut self.blurred, radius);
            }
            field.iter_mut().for_each(|d| *d *= alpha);
        }
    }
}

/// The radius r of a box of width 2r + 1 whose threefold repetition has
/// the variance σ² of the Gaussian it stands for: 3 · ((2r + 1)² − 1) / 12.
fn box_radius(sigma: f32) -> usize {
    let width = (4.0 * sigma * sigma + 1.0).sqrt();
    ((width - 1.0) / 2.0).round().max(1.0) as usize
}

/// Blurs `field` (28 × 28) with a box of width 2r + 1 along rows, then
/// columns, counting pixels outside the image as zeros (running sums).
fn box_blur(field: &mut [f32], temp: &mut [f32], radius: usize) {
    let norm = 1.0 / (2 * radius + 1) as f32;
    let line = |read: &dyn Fn(usize) -> f32, write: &mut dyn FnMut(usize, f32), n: usize| {
        let mut sum: f32 = (0..=radius.min(n - 1)).map(read).sum();
        for i in 0..n {
            write(i, sum * norm);
            if i + radius + 1 < n {
                sum += read(i + radius + 1);
            }
            if i >= radius {
                sum -= read(i - radius);
            }
        }
    };
    for row in 0..IMAGE_ROWS {
        let base = row * IMAGE_COLS;
        line(
            &|c| field[base + c],
            &mut |c, v| temp[base + c] = v,
            IMAGE_COLS,
        );
    }
    for col in 0..IMAGE_COLS {
        line(
            &|r| temp[r * IMAGE_COLS + col],
            &mut |r, v| field[r * IMAGE_COLS + col] = v,
            IMAGE_ROWS,
        );
    }
}
