//! The PNG chart: Mpps per scenario (groups) and switch (bars), medians.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::register_font;

use super::run::Measurement;

/// Where Debian's fonts-dejavu-core puts the font the chart's text is drawn with.
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const COLOURS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

fn load_font() -> Result<(), String> {
    let bytes =
        std::fs::read(FONT).map_err(|e| format!("{FONT}: {e} (install fonts-dejavu-core)"))?;
    // Registered once per process; plotters keeps a 'static reference.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| format!("{FONT}: not a font"))
}

pub fn png(ms: &[Measurement], path: &Path) -> Result<(), String> {
    load_font()?;
    let mut scenarios: Vec<&str> = Vec::new();
    let mut switches: Vec<&str> = Vec::new();
    for m in ms {
        if !scenarios.contains(&m.scenario.as_str()) {
            scenarios.push(&m.scenario);
        }
        if !switches.contains(&m.switch.as_str()) {
            switches.push(&m.switch);
        }
    }
    let top = ms.iter().map(|m| m.median_pps() / 1e6).fold(0.1, f64::max) * 1.15;
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, ((160 + 140 * scenarios.len() as u32).max(640), 520))
        .into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let groups = scenarios.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "xvs-bench: 64-byte frames delivered (median Mpps)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..groups, 0.0..top)
        .map_err(|x| e(&x))?;
    let names = scenarios.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(scenarios.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < names.len() {
                names[i].to_string()
            } else {
                String::new()
            }
        })
        .y_desc("Mpps")
        .draw()
        .map_err(|x| e(&x))?;
    let width = 0.8 / switches.len() as f64;
    for (k, sw) in switches.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let bars = scenarios.iter().enumerate().filter_map(|(i, sc)| {
            let m = ms.iter().find(|m| m.scenario == *sc && m.switch == *sw)?;
            let x0 = i as f64 + 0.1 + k as f64 * width;
            Some(Rectangle::new(
                [(x0, 0.0), (x0 + width * 0.9, m.median_pps() / 1e6)],
                colour.filled(),
            ))
        });
        chart
            .draw_series(bars)
            .map_err(|x| e(&x))?
            .label(sw.to_string())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}
