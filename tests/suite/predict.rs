//! Pictures of digits become MNIST-like 28×28 images: inverted when dark on
//! light, scaled into 20×20, centred by mass; then classified.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{synthetic_mnist, write_mnist_dir};
use image::{GrayImage, Luma};
use mnist_mlp::internals::data::picture::to_mnist_layout;

/// A thick "L" of ink on a large canvas, away from the centre.
fn picture(dark_on_light: bool) -> GrayImage {
    let (paper, ink) = if dark_on_light {
        (250u8, 10u8)
    } else {
        (5u8, 245u8)
    };
    GrayImage::from_fn(200, 120, |x, y| {
        let stroke = (30..45).contains(&x) && (10..90).contains(&y)
            || (30..80).contains(&x) && (75..90).contains(&y);
        Luma([if stroke { ink } else { paper }])
    })
}

fn centre_of_mass(field: &[u8]) -> (f64, f64) {
    let (mut m, mut mx, mut my) = (0.0, 0.0, 0.0);
    for (i, &p) in field.iter().enumerate() {
        let (x, y) = ((i % 28) as f64, (i / 28) as f64);
        m += p as f64;
        mx += p as f64 * x;
        my += p as f64 * y;
    }
    (mx / m, my / m)
}

#[test]
fn digits_are_laid_out_as_in_mnist_whatever_the_picture() {
    let light = to_mnist_layout(&picture(true)).unwrap();
    let dark = to_mnist_layout(&picture(false)).unwrap();
    for field in [&light, &dark] {
        assert_eq!(field.len(), 784);
        // White on black: the ink is bright, the frame around the 20x20 box dark.
        assert!(*field.iter().max().unwrap() > 200);
        let inked: Vec<(usize, usize)> = (0..784)
            .filter(|&i| field[i] > 40)
            .map(|i| (i % 28, i / 28))
            .collect();
        let width =
            inked.iter().map(|p| p.0).max().unwrap() - inked.iter().map(|p| p.0).min().unwrap() + 1;
        let height =
            inked.iter().map(|p| p.1).max().unwrap() - inked.iter().map(|p| p.1).min().unwrap() + 1;
        assert!(
            height == 20 || height == 21,
            "the longer side fills the 20-pixel box: {width}x{height}"
        );
        assert!(width < height);
        let (cx, cy) = centre_of_mass(field);
        assert!(
            (cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0,
            "centre of mass ({cx:.1}, {cy:.1})"
        );
    }
    // Inverting the picture changes nothing once it is laid out.
    let differing = light
        .iter()
        .zip(&dark)
        .filter(|(a, b)| a.abs_diff(**b) > 12)
        .count();
    assert!(differing < 10, "{differing} pixels differ");
    assert!(
        to_mnist_layout(&GrayImage::from_pixel(50, 50, Luma([255]))).is_none(),
        "blank pictures have no digit"
    );
}

/// A small model trained on synthetic data, saved in `dir`.
fn trained_model(dir: &Path) -> PathBuf {
    write_mnist_dir(dir, &synthetic_mnist(200, 40), true);
    let model = dir.join("m.safetensors");
    let out = Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args(["train", "--epochs", "1", "--hidden", "8", "--data-dir"])
        .arg(dir)
        .arg("--save")
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    model
}

#[test]
fn predict_reads_png_and_jpeg_and_rejects_what_is_not_a_picture() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_mnist-mlp");
    let model = trained_model(dir.path());

    let png = dir.path().join("digit.png");
    let jpeg = dir.path().join("digit.jpg");
    picture(true).save(&png).unwrap();
    picture(false).save(&jpeg).unwrap();
    let lines = predict_json(&model, &[png.clone(), jpeg.clone()]);
    assert_eq!(lines.len(), 2);
    for (line, path) in lines.iter().zip([&png, &jpeg]) {
        assert_eq!(line["path"], path.to_str().unwrap());
        assert!(line["digit"].as_u64().unwrap() < 10);
        assert_eq!(line["outputs"].as_array().unwrap().len(), 10);
    }
    // The same digit, drawn either way round, gets the same answer.
    assert_eq!(lines[0]["digit"], lines[1]["digit"]);

    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not a picture").unwrap();
    let out = Command::new(bin)
        .args(["predict", "--model"])
        .arg(&model)
        .arg(&text)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("notes.png") && err.trim_end().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn one_bad_picture_costs_only_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained_model(dir.path());
    let good = dir.path().join("good.png");
    let also_good = dir.path().join("also-good.jpg");
    let missing = dir.path().join("missing.png");
    let blank = dir.path().join("blank.png");
    let grey = dir.path().join("grey.png");
    picture(true).save(&good).unwrap();
    picture(false).save(&also_good).unwrap();
    GrayImage::from_pixel(64, 64, Luma([255]))
        .save(&blank)
        .unwrap();
    GrayImage::from_pixel(64, 64, Luma([128]))
        .save(&grey)
        .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args(["predict", "--model"])
        .arg(&model)
        .args([&missing, &good, &blank, &grey, &also_good])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The good pictures, in the order given, each classified.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("{}: ", good.display())),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with(&format!("{}: ", also_good.display())),
        "{stdout}"
    );

    // One line per failure, naming the picture.
    let failures: Vec<&str> = stderr.lines().collect();
    assert_eq!(failures.len(), 3, "{stderr}");
    for (line, path) in failures.iter().zip([&missing, &blank, &grey]) {
        assert!(line.contains(path.to_str().unwrap()), "{line}");
    }
    for line in &failures[1..] {
        assert!(line.contains("no digit found"), "{line}");
    }
}

#[test]
fn ink_is_measured_against_the_background() {
    // A flat picture of any shade has no digit in it.
    for shade in [0u8, 60, 128, 200, 255] {
        assert!(
            to_mnist_layout(&GrayImage::from_pixel(40, 30, Luma([shade]))).is_none(),
            "a flat picture of shade {shade} has no digit"
        );
    }
    // A dark digit on grey paper is laid out as on white paper.
    let on_white = picture(true);
    let on_grey = GrayImage::from_fn(on_white.width(), on_white.height(), |x, y| {
        Luma([if on_white.get_pixel(x, y)[0] > 127 {
            160
        } else {
            10
        }])
    });
    let white_field = to_mnist_layout(&on_white).unwrap();
    let grey_field = to_mnist_layout(&on_grey).unwrap();
    let inked = |field: &[u8]| -> Vec<bool> { field.iter().map(|&p| p > 40).collect() };
    let differing = inked(&white_field)
        .iter()
        .zip(inked(&grey_field))
        .filter(|(a, b)| **a != *b)
        .count();
    assert!(
        differing < 10,
        "{differing} pixels inked differently on grey and white paper"
    );
}

#[test]
fn show_with_a_model_puts_the_prediction_in_the_picture_title() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained_model(dir.path());
    let show = |out: &Path, with_model: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mnist-mlp"));
        command
            .args(["show", "--index", "4", "--data-dir"])
            .arg(dir.path())
            .arg("--out")
            .arg(out);
        if with_model {
            command.arg("--model").arg(&model);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let (plain, predicted) = (
        dir.path().join("plain.png"),
        dir.path().join("predicted.png"),
    );
    show(&plain, false);
    let stdout = show(&predicted, true);
    let digit = stdout
        .lines()
        .find_map(|l| l.strip_prefix("predicted "))
        .and_then(|rest| rest.chars().next())
        .unwrap_or_else(|| panic!("no prediction in {stdout}"));
    // The title that was drawn, as the command reports it.
    assert!(
        stdout.contains(&format!(", predicted {digit}: wrote ")),
        "{stdout}"
    );

    // The pictures differ in their title band only: the answer is drawn.
    let (plain, predicted) = (
        image::open(&plain).unwrap().to_luma8(),
        image::open(&predicted).unwrap().to_luma8(),
    );
    assert_eq!(plain.dimensions(), predicted.dimensions());
    let height = plain.height();
    let differs = |rows: std::ops::Range<u32>| {
        rows.flat_map(|y| (0..plain.width()).map(move |x| (x, y)))
            .any(|(x, y)| plain.get_pixel(x, y) != predicted.get_pixel(x, y))
    };
    assert!(
        differs(0..30),
        "the title band is the same with and without --model"
    );
    assert!(!differs(60..height - 10), "the digit changed");
}

/// Runs `predict --json` on `pictures` and returns its lines.
fn predict_json(model: &Path, pictures: &[PathBuf]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args(["predict", "--json", "--model"])
        .arg(model)
        .args(pictures)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_digit_written_by_show_with_its_title_band_is_read_as_the_bare_digit() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained_model(dir.path());
    let (mut titled, mut plain) = (Vec::new(), Vec::new());
    for i in 0..40 {
        for (bare, list) in [(false, &mut titled), (true, &mut plain)] {
            let path = dir.path().join(format!("{i}-{bare}.png"));
            let mut command = Command::new(env!("CARGO_BIN_EXE_mnist-mlp"));
            command
                .args(["show", "--index", &i.to_string(), "--data-dir"])
                .arg(dir.path())
                .arg("--out")
                .arg(&path);
            if bare {
                command.arg("--plain");
            }
            assert!(command.output().unwrap().status.success());
            list.push(path);
        }
    }
    // The band is left out: the layout is the bare digit's, to resampling.
    for (t, p) in titled.iter().zip(&plain) {
        let (t, p) = (
            mnist_mlp::internals::data::picture::mnist_like(t).unwrap(),
            mnist_mlp::internals::data::picture::mnist_like(p).unwrap(),
        );
        let off = t
            .iter()
            .zip(&p)
            .map(|(a, b)| a.abs_diff(*b) as f64)
            .sum::<f64>()
            / 784.0;
        // With the band taken for ink (as before), 12 to 69; without, 0.5 to 10.
        assert!(
            off < 16.0,
            "mean pixel difference {off} between titled and bare"
        );
    }
    let (titled, plain) = (predict_json(&model, &titled), predict_json(&model, &plain));
    let agree = titled
        .iter()
        .zip(&plain)
        .filter(|(t, p)| t["digit"] == p["digit"])
        .count();
    assert!(
        agree >= 38,
        "titled and bare pictures agree on {agree} of 40"
    );
}

#[test]
fn predict_says_when_no_output_backs_a_digit() {
    let dir = tempfile::tempdir().unwrap();
    let trained = trained_model(dir.path());
    // The same model with every output pushed to σ(−1) = 0.27.
    let (mut params, info) = mnist_mlp::internals::io::model::load(&trained).unwrap();
    let last = params.layers.last_mut().unwrap();
    last.w.fill(0.0);
    last.b.fill(-1.0);
    let doubtful = dir.path().join("doubtful.safetensors");
    mnist_mlp::internals::io::model::save(&doubtful, &params, &info).unwrap();
    let png = dir.path().join("digit.png");
    picture(true).save(&png).unwrap();
    let sure = predict_json(&trained, std::slice::from_ref(&png));
    let unsure = predict_json(&doubtful, std::slice::from_ref(&png));
    assert_eq!(unsure[0]["unsure"], true, "{unsure:?}");
    assert_eq!(
        sure[0]["unsure"],
        sure[0]["outputs"][sure[0]["digit"].as_u64().unwrap() as usize]
            .as_f64()
            .map(|a| a < 0.5)
            .unwrap()
    );
    let text = Command::new(env!("CARGO_BIN_EXE_mnist-mlp"))
        .args(["predict", "--model"])
        .arg(&doubtful)
        .arg(&png)
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&text.stdout);
    assert!(line.contains("(unsure: no output reaches 0.5"), "{line}");
    assert_eq!(line.trim_end().lines().count(), 1, "{line}");
}
