package domain_test

import (
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

func TestASeriesSumsEachStep(t *testing.T) {
	from := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	s := domain.NewSeries(from, time.Minute, 3)
	for _, r := range []struct {
		at time.Duration
		v  float64
	}{
		{-time.Second, 99},                                   // before the series: left out
		{0, 4}, {20 * time.Second, 2}, {59 * time.Second, 6}, // step 0
		{3 * time.Minute, 8}, // the end: the last step
	} {
		s.Add(from.Add(r.at), r.v)
	}
	p := s.Points()
	if len(p) != 3 {
		t.Fatalf("%d points, want 3", len(p))
	}
	if p[0].Count != 3 || *p[0].Min != 2 || *p[0].Max != 6 || *p[0].Avg != 4 || *p[0].Last != 6 || !p[0].At.Equal(from) {
		t.Errorf("step 0 = %+v", p[0])
	}
	if p[1].Count != 0 || p[1].Min != nil || p[1].Last != nil || !p[1].At.Equal(from.Add(time.Minute)) {
		t.Errorf("step 1 = %+v, want empty", p[1])
	}
	if p[2].Count != 1 || *p[2].Last != 8 {
		t.Errorf("step 2 = %+v, want the reading at the end", p[2])
	}
}
