//! Augmentation redraws digits as the flags say: translations are exact
//! whole-pixel moves within range, every shift gets drawn, rotations and
//! scalings keep the digit, elastic distortion moves pixels a little, and
//! the same key always gives the same picture.

use crate::common;

use common::synthetic;
use mnist_mlp::internals::data::augment::{augment_image, sample_key, Augment, Scratch};
use mnist_mlp::internals::data::dataset::PIXELS;

const NONE: Augment = Augment {
    shift: 0,
    rotate_degrees: 0.0,
    scale: 0.0,
    elastic_alpha: 0.0,
    elastic_sigma: 4.0,
};

/// A 6 × 8 block of ink with a gradient, away from the borders.
fn block() -> Vec<u8> {
    let mut image = vec![0u8; PIXELS];
    for r in 10..18 {
        for c in 11..17 {
            image[r * 28 + c] = (100 + 10 * (r - 10) + c) as u8;
        }
    }
    image
}

fn redraw(image: &[u8], augment: &Augment, key: u64) -> Vec<u8> {
    let mut scratch = Scratch::new(1, augment);
    let mut out = vec![0u8; PIXELS];
    augment_image(image, &mut out, augment, key, &mut scratch.resampler);
    out
}

/// `image` moved right by dx and down by dy, zeros moving in.
fn moved(image: &[u8], dx: i64, dy: i64) -> Vec<u8> {
    let mut out = vec![0u8; PIXELS];
    for r in 0..28i64 {
        for c in 0..28i64 {
            let (sr, sc) = (r - dy, c - dx);
            if (0..28).contains(&sr) && (0..28).contains(&sc) {
                out[(r * 28 + c) as usize] = image[(sr * 28 + sc) as usize];
            }
        }
    }
    out
}

fn ink(image: &[u8]) -> f64 {
    image.iter().map(|&p| p as f64).sum()
}

fn centre_of_ink(image: &[u8]) -> (f64, f64) {
    let total = ink(image);
    let (mut r, mut c) = (0.0, 0.0);
    for (i, &p) in image.iter().enumerate() {
        r += (i / 28) as f64 * p as f64;
        c += (i % 28) as f64 * p as f64;
    }
    (r / total, c / total)
}

#[test]
fn shifts_are_whole_pixel_moves_within_range_and_all_of_them_occur() {
    let image = block();
    let augment = Augment { shift: 2, ..NONE };
    let mut seen = std::collections::HashSet::new();
    for index in 0..400 {
        let out = redraw(&image, &augment, sample_key(7, 0, index));
        let shift = (-2..=2)
            .flat_map(|dx| (-2..=2).map(move |dy| (dx, dy)))
            .find(|&(dx, dy)| moved(&image, dx, dy) == out)
            .unwrap_or_else(|| panic!("image {index} is not a move of at most 2 pixels"));
        seen.insert(shift);
    }
    assert_eq!(seen.len(), 25, "shifts drawn: {seen:?}");
}

#[test]
fn nothing_to_draw_leaves_the_image_as_it_is() {
    let image = synthetic(1, 3).image(0).to_vec();
    assert_eq!(redraw(&image, &NONE, 12345), image);
}

#[test]
fn rotations_and_scalings_keep_the_digit_near_its_place() {
    let image = block();
    let augment = Augment {
        rotate_degrees: 15.0,
        scale: 0.1,
        ..NONE
    };
    let (r0, c0) = centre_of_ink(&image);
    let mut changed = 0;
    for index in 0..50 {
        let out = redraw(&image, &augment, sample_key(1, 3, index));
        changed += (out != image) as usize;
        // Scaling by at most 1.1 changes the area, and so the ink, by at
        // most 1.1² (bilinear rounding aside).
        let ratio = ink(&out) / ink(&image);
        assert!((0.75..1.3).contains(&ratio), "ink ratio {ratio}");
        let (r, c) = centre_of_ink(&out);
        assert!(
            (r - r0).abs() < 1.0 && (c - c0).abs() < 1.0,
            "centre moved to {r},{c}"
        );
    }
    assert!(changed >= 45, "only {changed} of 50 images changed");
}

#[test]
fn a_rotation_by_the_largest_angle_turns_a_bar() {
    // A horizontal bar, rotated by up to 45 degrees, gains height.
    let mut bar = vec![0u8; PIXELS];
    for c in 6..22 {
        bar[14 * 28 + c] = 255;
    }
    let augment = Augment {
        rotate_degrees: 45.0,
        ..NONE
    };
    let rows_with_ink = |image: &[u8]| {
        (0..28)
            .filter(|r| image[r * 28..(r + 1) * 28].iter().any(|&p| p > 64))
            .count()
    };
    let tallest = (0..20)
        .map(|i| rows_with_ink(&redraw(&bar, &augment, sample_key(1, 0, i))))
        .max()
        .unwrap();
    assert!(tallest >= 8, "the bar spans at most {tallest} rows");
}

#[test]
fn elastic_distortion_moves_ink_a_little_and_depends_only_on_the_key() {
    let image = synthetic(1, 5).image(0).to_vec();
    let augment = Augment {
        elastic_alpha: 34.0,
        elastic_sigma: 4.0,
        ..NONE
    };
    let key = sample_key(2, 1, 9);
    let once = redraw(&image, &augment, key);
    assert_eq!(
        once,
        redraw(&image, &augment, key),
        "same key, same picture"
    );
    assert_ne!(once, image);
    assert_ne!(once, redraw(&image, &augment, sample_key(2, 2, 9)));
    let block = block();
    let out = redraw(&block, &augment, key);
    let ratio = ink(&out) / ink(&block);
    assert!((0.6..1.5).contains(&ratio), "ink ratio {ratio}");
}

#[test]
fn draws_differ_by_seed_epoch_and_image() {
    let keys = [
        sample_key(1, 0, 0),
        sample_key(2, 0, 0),
        sample_key(1, 1, 0),
        sample_key(1, 0, 1),
    ];
    for i in 0..keys.len() {
        for j in i + 1..keys.len() {
            assert_ne!(keys[i], keys[j]);
        }
    }
}
