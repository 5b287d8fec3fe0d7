package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The P1 series, in legend order, with their colours.
var latencySeries = []struct {
	key, label string
	color      color.RGBA
}{
	{"direct", "sarama SyncProducer → Kafka (baseline)", color.RGBA{R: 0x33, G: 0x33, B: 0x33, A: 0xff}},
	{"library", "journal library in-process → Kafka", color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}},
	{"go", "Go socket client → sidecar → Kafka", color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},
	{"python", "Python sync client → sidecar → Kafka", color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}},
}

// plotLatencies writes an SVG with two panels over the P1 latencies (ms, every repetition pooled):
// the distribution (CDF) and its tail (the fraction of appends slower than x, log scale, where p99 and
// p99.9 can be read off).
func plotLatencies(path string, lat map[string][]float64) error {
	cdf := plot.New()
	cdf.Title.Text = "Append latency, 200-byte single-event appends (P1)"
	cdf.X.Label.Text = "latency (ms, log scale)"
	cdf.Y.Label.Text = "fraction of appends ≤ x"
	cdf.Y.Min, cdf.Y.Max = 0, 1
	cdf.Legend.Top, cdf.Legend.Left = false, false // the bottom right is empty: every curve is near 1 there
	cdf.Legend.YOffs = vg.Inch / 4
	cdf.Add(plotter.NewGrid())

	tailP := plot.New()
	tailP.Title.Text = "Tail: fraction of appends slower than x"
	tailP.X.Label.Text = "latency (ms, log scale)"
	tailP.Y.Label.Text = "1 − CDF (log scale)"
	tailP.Add(plotter.NewGrid())

	lo, hi := math.Inf(1), math.Inf(-1)
	minFrac := 1.0
	for _, s := range latencySeries {
		xs := slices.Clone(lat[s.key])
		if len(xs) == 0 {
			continue
		}
		slices.Sort(xs)
		lo, hi = min(lo, xs[0]), max(hi, xs[len(xs)-1])
		n := float64(len(xs))
		minFrac = min(minFrac, 1/n)
		var pts, tailPts plotter.XYs
		// At most ~2,000 points per line (every point of the tail's last 1%), which keeps the SVG small.
		step := max(1, len(xs)/2000)
		for i, x := range xs {
			if i%step != 0 && i < len(xs)-len(xs)/100-1 {
				continue
			}
			x = max(x, 1e-3)
			pts = append(pts, plotter.XY{X: x, Y: float64(i+1) / n})
			if frac := (n - float64(i+1)) / n; frac > 0 { // the slowest point has nothing above it
				tailPts = append(tailPts, plotter.XY{X: x, Y: frac})
			}
		}
		for _, p := range []struct {
			pl  *plot.Plot
			xys plotter.XYs
		}{{cdf, pts}, {tailP, tailPts}} {
			if len(p.xys) == 0 {
				continue
			}
			l, err := plotter.NewLine(p.xys)
			if err != nil {
				return err
			}
			l.Color = s.color
			l.Width = vg.Points(1.5)
			p.pl.Add(l)
			if p.pl == cdf {
				p50, p99 := sortedPercentile(xs, 0.5), sortedPercentile(xs, 0.99)
				cdf.Legend.Add(fmt.Sprintf("%s: p50 %.2f, p99 %.2f ms", s.label, p50, p99), l)
			}
		}
	}
	if math.IsInf(lo, 0) {
		return fmt.Errorf("no latencies to plot")
	}
	for _, p := range []*plot.Plot{cdf, tailP} {
		p.X.Scale = plot.LogScale{}
		p.X.Min, p.X.Max = max(lo*0.9, 1e-3), hi*1.1
		p.X.Tick.Marker = logTicks{}
	}
	tailP.Y.Scale = plot.LogScale{}
	tailP.Y.Min, tailP.Y.Max = minFrac*0.9, 1
	tailP.Y.Tick.Marker = plot.ConstantTicks{
		{Value: 1, Label: "all"}, {Value: 0.5, Label: "p50"}, {Value: 0.1, Label: "p90"},
		{Value: 0.01, Label: "p99"}, {Value: 0.001, Label: "p99.9"}, {Value: 0.0001, Label: "p99.99"},
	}

	const w, h = 15 * vg.Inch, 6 * vg.Inch
	draw2 := func(c vg.CanvasWriterTo, path string) error {
		dc := draw.New(c)
		tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 2, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8,
			PadLeft: vg.Inch / 8, PadRight: vg.Inch / 4}
		canvases := plot.Align([][]*plot.Plot{{cdf, tailP}}, tiles, dc)
		cdf.Draw(canvases[0][0])
		tailP.Draw(canvases[0][1])
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if _, err := c.WriteTo(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := draw2(vgsvg.New(w, h), path); err != nil {
		return err
	}
	// The same as a PNG, for viewers without SVG.
	return draw2(vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96))}, strings.TrimSuffix(path, ".svg")+".png")
}

// logTicks labels 1, 2 and 5 of every decade of a log axis, with unlabelled minor ticks between.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for dec := math.Pow10(int(math.Floor(math.Log10(lo)))); dec <= hi; dec *= 10 {
		for i := 1; i < 10; i++ {
			v := dec * float64(i)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if i == 1 || i == 2 || i == 5 {
				t.Label = strconv.FormatFloat(v, 'g', 3, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}
