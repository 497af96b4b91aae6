//! Digits from ordinary pictures: any PNG or JPEG is turned into a 28×28
//! image the way MNIST's were made, for `Model::classify_picture`.
//!
//! MNIST digits are white on black, their bounding box scaled to fit 20×20
//! (aspect kept), placed in a 28×28 field with their centre of mass at the
//! centre. A dark-on-light picture (most scans and drawings) is inverted
//! first, judged by its median pixel, which is background in a picture of a
//! digit.
//! Ink is measured against that background, not against black or white, so
//! grey paper is background too and a picture of one flat colour is blank.

use std::path::Path;

use image::imageops::{resize, FilterType};
use image::{GrayImage, Luma};

use crate::data::dataset::PIXELS;
use crate::data::idx::{IMAGE_COLS, IMAGE_ROWS};
use crate::error::{Error, Result};

/// Pixels differing from the background by this much or less (0..255) are
/// background when finding the digit's bounding box.
const INK_THRESHOLD: u8 = 40;
/// MNIST's digits fit a 20×20 box inside the 28×28 field.
const DIGIT_BOX: u32 = 20;

/// Reads an image file and makes it an MNIST-like 28×28 digit (784 bytes).
pub fn mnist_like(path: &Path) -> Result<Vec<u8>> {
    let picture = image::open(path)
        .map_err(|e| Error::Data(format!("{}: cannot read the image ({e})", path.display())))?
        .to_luma8();
    to_mnist_layout(&picture).ok_or_else(|| {
        Error::Data(format!(
            "{}: no digit found (the picture is blank or of one flat colour)",
            path.display()
        ))
    })
}

/// The MNIST layout of a grey picture, or None if nothing in it stands out
/// from the background.
pub fn to_mnist_layout(picture: &GrayImage) -> Option<Vec<u8>> {
    let (w, h) = picture.dimensions();
    if w == 0 || h == 0 {
        return None;
    }
    // Most of a picture of a digit is background: the median pixel is
    // background even where a stroke, or a title band as `show --out`
    // draws, fills much of the border.
    let mut pixels = picture.as_raw().clone();
    let mid = pixels.len() / 2;
    let background = *pixels.select_nth_unstable(mid).1;
    let light_background = background > 127;
    let ink = |p: u8| {
        if light_background {
            background.saturating_sub(p)
        } else {
            p.saturating_sub(background)
        }
    };

    // A flat band along an edge is not the digit: it is a title (as
    // `show --out` draws above the digit), a caption or a frame. A line of
    // pixels belongs to one when most of it is ink of one single shade,
    // which a stroke of a digit, drawn or photographed, never is.
    let inked = |p: &Luma<u8>| ink(p[0]) > INK_THRESHOLD;
    let flat_band = |pixels: &mut dyn Iterator<Item = u8>, len: u32| {
        let mut shades = [0u32; 256];
        for p in pixels.filter(|&p| ink(p) > INK_THRESHOLD) {
            shades[p as usize] += 1;
        }
        shades.iter().max().is_some_and(|&most| most * 2 > len)
    };
    let band_row = |y: u32| flat_band(&mut (0..w).map(|x| picture.get_pixel(x, y)[0]), w);
    let band_col = |x: u32| flat_band(&mut (0..h).map(|y| picture.get_pixel(x, y)[0]), h);
    let top = (0..h).find(|&y| !band_row(y))?;
    let bottom = (top..h).rev().find(|&y| !band_row(y))?;
    let left = (0..w).find(|&x| !band_col(x))?;
    let right = (left..w).rev().find(|&x| !band_col(x))?;

    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in top..=bottom {
        for x in left..=right {
            if inked(picture.get_pixel(x, y)) {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    if x0 > x1 {
        return None;
    }
    let crop = GrayImage::from_fn(x1 - x0 + 1, y1 - y0 + 1, |x, y| {
        Luma([ink(picture.get_pixel(x0 + x, y0 + y)[0])])
    });
    let scale = DIGIT_BOX as f32 / crop.width().max(crop.height()) as f32;
    let (cw, ch) = (
        ((crop.width() as f32 * scale).round() as u32).clamp(1, DIGIT_BOX),
        ((crop.height() as f32 * scale).round() as u32).clamp(1, DIGIT_BOX),
    );
    let digit = resize(&crop, cw, ch, FilterType::Triangle);

    // Centre of mass of the scaled digit, to be moved to the field's centre.
    let (mut mass, mut mx, mut my) = (0f64, 0f64, 0f64);
    for (x, y, p) in digit.enumerate_pixels() {
        let m = p[0] as f64;
        mass += m;
        mx += m * x as f64;
        my += m * y as f64;
    }
    let (cx, cy) = if mass > 0.0 {
        (mx / mass, my / mass)
    } else {
        (cw as f64 / 2.0, ch as f64 / 2.0)
    };
    let side = IMAGE_ROWS as i64;
    let left = ((IMAGE_COLS as f64 / 2.0 - cx).round() as i64).clamp(0, side - cw as i64);
    let top = ((IMAGE_ROWS as f64 / 2.0 - cy).round() as i64).clamp(0, side - ch as i64);

    let mut field = vec![0u8; PIXELS];
    for (x, y, p) in digit.enumerate_pixels() {
        let (fx, fy) = (left + x as i64, top + y as i64);
        field[fy as usize * IMAGE_COLS + fx as usize] = p[0];
    }
    Some(field)
}
