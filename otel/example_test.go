package otel_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/limit"
	fgotel "github.com/floodgate-go/floodgate/otel"
)

// ExampleNew records three decisions under 2/minute and reads them back
// through a ManualReader.
func ExampleNew() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	m, err := fgotel.New(mp)
	if err != nil {
		panic(err)
	}
	store, err := floodgate.Open("memory://", floodgate.WithObserver(m))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	m.Watch(store)
	for range 3 {
		_, _ = store.AllowN(context.Background(), "user:42", 1, limit.PerMinute(2))
	}

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	fmt.Println("allowed", value(rm, "floodgate.decisions", "outcome", "allowed"),
		"denied", value(rm, "floodgate.decisions", "outcome", "denied"),
		"tracked keys", value(rm, "floodgate.tracked_keys"))
	// Output: allowed 2 denied 1 tracked keys 1
}
