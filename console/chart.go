package console

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// colors of the chart's lines, in series order; distinguishable in
// grey-scale too (the legend names them, and each has its own dash).
var colors = []struct{ stroke, dash string }{
	{"#1f5fbf", ""}, {"#2e7d32", "6 3"}, {"#c62828", "2 3"}, {"#6a1b9a", "8 3 2 3"},
}

// chart renders series over the window ending at now as an inline SVG:
// server-side, so the page needs no chart library.
func chart(title, unit string, times []time.Time, ss []series, window time.Duration, now time.Time) template.HTML {
	const w, h, left, right, top, bottom = 720.0, 200.0, 56.0, 12.0, 12.0, 24.0
	peak := 0.0
	for _, s := range ss {
		for _, p := range s.Points {
			if p != nil {
				peak = math.Max(peak, *p)
			}
		}
	}
	peak = niceCeil(peak)
	from := now.Add(-window)
	x := func(t time.Time) float64 {
		return left + (w-left-right)*t.Sub(from).Seconds()/window.Seconds()
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/peak) }
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart"><figcaption>%s</figcaption>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" role="img" aria-label="%s">`, w, h, html.EscapeString(title))
	for _, f := range []float64{0, 0.5, 1} {
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" class="grid"/>`, left, w-right, y(peak*f), y(peak*f))
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" class="tick" text-anchor="end">%s</text>`, left-6, y(peak*f)+4, tick(peak*f))
	}
	span := fmt.Sprintf("%d min", int(window.Minutes()))
	if window < time.Minute {
		span = fmt.Sprintf("%d s", int(window.Seconds()))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" class="tick">−%s</text>`, left, h-6, span)
	fmt.Fprintf(&b, `<text x="%g" y="%g" class="tick" text-anchor="end">now</text>`, w-right, h-6)
	for i, s := range ss {
		c := colors[i%len(colors)]
		var pts []string
		flush := func() {
			if len(pts) > 0 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s" points="%s"/>`, c.stroke, c.dash, strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for k, p := range s.Points {
			if p == nil || times[k].Before(from) {
				flush() // a gap where nothing was read
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(times[k]), y(*p)))
		}
		flush()
	}
	b.WriteString(`</svg><ul class="legend">`)
	for i, s := range ss {
		c := colors[i%len(colors)]
		last := "–"
		for k := len(s.Points) - 1; k >= 0; k-- {
			if s.Points[k] != nil {
				last = tick(*s.Points[k])
				break
			}
		}
		fmt.Fprintf(&b, `<li><svg width="24" height="10" aria-hidden="true"><line x1="0" x2="24" y1="5" y2="5" stroke="%s" stroke-width="2" stroke-dasharray="%s"/></svg> %s: %s %s</li>`,
			c.stroke, c.dash, html.EscapeString(s.Name), last, html.EscapeString(unit))
	}
	b.WriteString(`</ul></figure>`)
	// Safe: built from escaped names and formatted numbers only.
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 at least), a
// round top for the axis.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func tick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
