//! PNG pictures: accuracy curves and digits. Text is drawn with DejaVu Sans
//! compiled into the binary, so plots work on a bare machine with no fonts
//! installed. Every picture is rendered into memory, encoded as PNG and
//! written under a temporary name before it takes its final one.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::data::dataset::{Dataset, PIXELS};
use crate::data::idx::{IMAGE_COLS, IMAGE_ROWS};
use crate::error::{Error, Result};
use crate::io::atomic_file::write_atomically;
use crate::io::metrics::EpochReport;

pub const CURVES_SIZE: (u32, u32) = (960, 600);
const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            plotters::style::register_font(FONT, style, dejavu::sans::regular())
                .unwrap_or_else(|_| panic!("embedded DejaVu Sans is a valid font"));
        }
    });
}

/// One line on a chart.
pub struct Curve {
    pub label: String,
    /// (epoch, accuracy in %)
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
    /// Index into the palette; a run's train and test curves share one.
    pub colour: usize,
}

/// Train and test accuracy per epoch of one run: two curves.
pub fn run_curves(name: &str, reports: &[EpochReport], colour: usize) -> [Curve; 2] {
    let points = |f: fn(&EpochReport) -> f64| {
        reports
            .iter()
            .map(|r| (r.epoch as f64, 100.0 * f(r)))
            .collect::<Vec<_>>()
    };
    [
        Curve {
            label: format!("{name} test"),
            points: points(|r| r.test_acc),
            dashed: false,
            colour,
        },
        Curve {
            label: format!("{name} train"),
            points: points(|r| r.train_acc),
            dashed: true,
            colour,
        },
    ]
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Data(format!("{}: cannot draw the plot: {e}", path.display()))
}

/// Draws accuracy-vs-epoch curves to a PNG at `path`.
pub fn draw_curves(path: &Path, title: &str, curves: &[Curve]) -> Result<()> {
    register_font();
    let (w, h) = CURVES_SIZE;
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        let all = curves.iter().flat_map(|c| c.points.iter());
        let max_epoch = all.clone().map(|p| p.0).fold(1.0, f64::max);
        // Zoom on the interesting band but keep every point visible.
        let low = all
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold(100.0, f64::min)
            .clamp(0.0, 90.0);
        let y_min = (low / 5.0).floor() * 5.0;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(1.0..max_epoch.max(2.0), y_min..100.0)
            .map_err(|e| plot_error(path, e))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("accuracy (%)")
            .label_style((FONT, 16))
            .axis_desc_style((FONT, 18))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| plot_error(path, e))?;
        for curve in curves {
            let colour = Palette99::pick(curve.colour).to_rgba();
            let style = colour.stroke_width(if curve.dashed { 1 } else { 3 });
            let points = curve.points.iter().copied().filter(|p| p.1.is_finite());
            let series = if curve.dashed {
                chart.draw_series(DashedLineSeries::new(points, 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(points, style))
            };
            series
                .map_err(|e| plot_error(path, e))?
                .label(curve.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(|e| plot_error(path, e))?;
        root.present().map_err(|e| plot_error(path, e))?;
    }
    write_png(path, &rgb, (w, h), png::ColorType::Rgb)
}

/// Draws item `index` of `data` under a title naming it and its label, each
/// pixel a `scale`×`scale` grey square, white digit on black as in MNIST.
pub fn draw_digit(
    path: &Path,
    title: &str,
    data: &Dataset,
    index: usize,
    scale: u32,
) -> Result<()> {
    register_font();
    let side = IMAGE_ROWS as u32 * scale;
    let title_height = 40;
    let (w, h) = (side, side + title_height);
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        let area = root
            .titled(title, (FONT, 22))
            .map_err(|e| plot_error(path, e))?;
        let scale = scale as i32;
        for (p, &value) in data.image(index).iter().enumerate() {
            let (row, col) = ((p / IMAGE_COLS) as i32, (p % IMAGE_COLS) as i32);
            let corner = (col * scale, row * scale);
            let far = (corner.0 + scale, corner.1 + scale);
            area.draw(&Rectangle::new(
                [corner, far],
                RGBColor(value, value, value).filled(),
            ))
            .map_err(|e| plot_error(path, e))?;
        }
        root.present().map_err(|e| plot_error(path, e))?;
    }
    debug_assert_eq!(data.image(index).len(), PIXELS);
    write_png(path, &rgb, (w, h), png::ColorType::Rgb)
}

/// Writes 784 pixels as a bare 28×28 greyscale PNG, as MNIST has them.
pub fn write_digit_png(path: &Path, pixels: &[u8]) -> Result<()> {
    write_png(
        path,
        pixels,
        (IMAGE_COLS as u32, IMAGE_ROWS as u32),
        png::ColorType::Grayscale,
    )
}

fn write_png(path: &Path, pixels: &[u8], (w, h): (u32, u32), colour: png::ColorType) -> Result<()> {
    let mut encoded = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut encoded, w, h);
        encoder.set_color(colour);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| plot_error(path, e))?;
        writer
            .write_image_data(pixels)
            .map_err(|e| plot_error(path, e))?;
    }
    write_atomically(path, &encoded)
}

/// The digit as terminal art: two characters per pixel, darker glyphs for
/// brighter pixels.
pub fn digit_ascii(data: &Dataset, index: usize) -> String {
    const RAMP: &[u8] = b" .:-=+*#%@";
    let mut out = String::with_capacity(IMAGE_ROWS * (2 * IMAGE_COLS + 1));
    for row in data.image(index).chunks(IMAGE_COLS) {
        for &p in row {
            let c = RAMP[p as usize * (RAMP.len() - 1) / 255] as char;
            out.push(c);
            out.push(c);
        }
        out.push('\n');
    }
    out
}
