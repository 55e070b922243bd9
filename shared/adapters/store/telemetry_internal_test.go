package store

import (
	"testing"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
)

func TestABatchNeverNamesOneReadingTwice(t *testing.T) {
	at := time.Unix(1_795_000_000, 0)
	in := []domain.Reading{
		{ID: "a", Device: "v-101", At: at},
		{ID: "a", Device: "v-101", At: at}, // a QoS 1 resend beside its original
		{ID: "a", Device: "v-102", At: at}, // another device: another key
		{ID: "b", Device: "v-101", At: at},
	}
	got := uniqueReadings(in)
	if len(got) != 3 || got[0].Device != "v-101" || got[1].Device != "v-102" || got[2].ID != "b" {
		t.Errorf("unique = %+v", got)
	}
	if len(in) != 4 {
		t.Errorf("the input was changed")
	}
}
