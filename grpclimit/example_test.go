package grpclimit_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/floodgate-go/floodgate"
	"github.com/floodgate-go/floodgate/clock"
	"github.com/floodgate-go/floodgate/grpclimit"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Example limits the health service's Check to 5 calls a minute per
// client, serves it on loopback and calls it 6 times.
func Example() {
	// A service opens its store with floodgate.Open("memory://") or a
	// redis:// URI; the manual clock only keeps this output exact.
	store, err := floodgate.Open("memory://?strategy=gcra", floodgate.WithClock(clock.NewManual(time.Hour)))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	lim, err := grpclimit.New(store,
		grpclimit.WithMethod("/grpc.health.v1.Health/Check", "5/minute"),
		grpclimit.WithDefaultLimits("100/minute"),
		grpclimit.WithTrustedProxies("x-forwarded-for", "10.0.0.0/8"))
	if err != nil {
		log.Fatal(err) // a bad limit string, naming the method
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(lim.Unary()),
		grpc.ChainStreamInterceptor(lim.Stream()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	if err := lim.Check(srv); err != nil {
		log.Fatal(err) // a declared method that no service serves
	}
	client, stop := serveLoopback(srv)
	defer stop()
	for n := 1; n <= 6; n++ {
		var md metadata.MD
		_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.Header(&md))
		st := status.Convert(err)
		fmt.Printf("call %d: %v, remaining %v", n, st.Code(), md.Get("x-ratelimit-remaining"))
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				fmt.Printf(", retry in %v", ri.GetRetryDelay().AsDuration())
			}
		}
		if err != nil {
			fmt.Printf(", retry-after %v: %s", md.Get("retry-after"), st.Message())
		}
		fmt.Println()
	}
	// Output:
	// call 1: OK, remaining [4]
	// call 2: OK, remaining [3]
	// call 3: OK, remaining [2]
	// call 4: OK, remaining [1]
	// call 5: OK, remaining [0]
	// call 6: ResourceExhausted, remaining [0], retry in 12s, retry-after [12]: grpclimit: rate limit exceeded: 5 per 1 minute
}

// ExampleInterceptor_Reload raises a method's limit while the server
// runs, and shows a refused reload keeping the limits in force.
func ExampleInterceptor_Reload() {
	store, err := floodgate.Open("memory://", floodgate.WithClock(clock.NewManual(time.Hour)))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	lim, err := grpclimit.New(store, grpclimit.WithMethod("/grpc.health.v1.Health/Check", "2/minute"))
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(lim.Unary()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	if err := lim.Check(srv); err != nil {
		log.Fatal(err)
	}
	client, stop := serveLoopback(srv)
	defer stop()
	call := func() {
		var md metadata.MD
		_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}, grpc.Header(&md))
		fmt.Printf("%v: limit %v, remaining %v\n", status.Code(err), md.Get("x-ratelimit-limit"), md.Get("x-ratelimit-remaining"))
	}
	call()
	call()
	call()

	// An incident: raise the limit. A changed limit counts afresh.
	if err := lim.Reload(grpclimit.WithMethod("/grpc.health.v1.Health/Check", "5/minute")); err != nil {
		log.Fatal(err)
	}
	call()
	// A mistyped reload is refused; 5/minute stays.
	fmt.Println(lim.Reload(grpclimit.WithMethod("/grpc.health.v1.Health/Check", "50/fortnight")))
	call()
	// Output:
	// OK: limit [2], remaining [1]
	// OK: limit [2], remaining [0]
	// ResourceExhausted: limit [2], remaining [0]
	// OK: limit [5], remaining [4]
	// grpclimit: invalid configuration: method "/grpc.health.v1.Health/Check": limit: invalid: "50/fortnight": unknown unit "fortnight" (want second, minute, hour, day, month or year)
	// OK: limit [5], remaining [3]
}

// serveLoopback serves srv on a loopback port and returns a health client
// connected to it, and a function that closes both.
func serveLoopback(srv *grpc.Server) (healthpb.HealthClient, func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	return healthpb.NewHealthClient(conn), func() { conn.Close(); srv.Stop() }
}
