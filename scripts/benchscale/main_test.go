package main

import (
	"io"
	"slices"
	"testing"
)

func TestFlagsTakeAscendingSizesAndRefuseTheRest(t *testing.T) {
	o, err := parse([]string{"-valves", "3,300,3000", "-readings", "0,500000", "-n", "5"}, io.Discard)
	if err != nil || !slices.Equal(o.valves, []int{3, 300, 3000}) || !slices.Equal(o.readings, []int{0, 500000}) || o.requests != 5 {
		t.Fatalf("parse = %+v, %v", o, err)
	}
	if o, err := parse(nil, io.Discard); err != nil || !slices.Equal(o.valves, []int{3, 3000}) || o.requests != 20 {
		t.Errorf("defaults = %+v, %v; want 3 and 3,000 valves, 20 requests", o, err)
	}
	for _, args := range [][]string{
		{"-valves", "3000,3"}, {"-valves", "2"}, {"-valves", "3,3"}, {"-valves", "x"}, {"-readings", "-1"},
		{"-n", "0"}, {"-rate", "0"}, {"-reading-devices", "0"}, {"-sections-per", "0"}, {"-mqtt", "-1"}, {"extra"},
	} {
		if _, err := parse(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
