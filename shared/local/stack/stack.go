// Package localstack runs the whole Plainview system on one machine with no
// AWS account and no Docker: a DynamoDB-compatible server, an MQTT broker
// standing in for IoT Core, and a local API gateway that invokes the same
// Lambda handlers the function binaries run.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/plainview/serverless/shared/adapters/notify"
	"github.com/plainview/serverless/shared/adapters/publish"
	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/api/cors"
	"github.com/plainview/serverless/shared/api/httpapi"
	"github.com/plainview/serverless/shared/contract/metrics"
	"github.com/plainview/serverless/shared/contract/routes"
	"github.com/plainview/serverless/shared/contract/topics"
	"github.com/plainview/serverless/shared/lambda/apifunc"
	"github.com/plainview/serverless/shared/lambda/config"
	"github.com/plainview/serverless/shared/lambda/function"
	"github.com/plainview/serverless/shared/lambda/ingestfunc"
	"github.com/plainview/serverless/shared/lambda/timeoutsfunc"
	"github.com/plainview/serverless/shared/local/apigateway"
	"github.com/plainview/serverless/shared/local/dynamolocal"
	"github.com/plainview/serverless/shared/local/mqttbroker"
)

// Environment is the local stack's environment name: it names its topic
// rules as the CDK stack names an environment's (topics.RuleName), so a
// device sends telemetry through Basic Ingest to
// $aws/rules/plainview_local_device_telemetry/plainview/devices/<id>/telemetry.
const Environment = topics.LocalEnvironment

// Config says where the stack listens and keeps its data.
type Config struct {
	DynamoAddr string // DynamoDB API, e.g. 127.0.0.1:8000 (port 0: any free one)
	MQTTAddr   string // MQTT broker, e.g. 127.0.0.1:1883
	HTTPAddr   string // API gateway, e.g. 127.0.0.1:3000
	DataDir    string // the table, operator login, keys, metrics; created if missing
	TableName  string
	Version    string
	Logger     *slog.Logger // the stack's and the handlers' log lines

	// DynamoEndpoint, when set, is the DynamoDB the stack uses (AWS, or a
	// DynamoDB Local run by someone else: DYNAMODB_ENDPOINT), and
	// DynamoAddr is unused. Otherwise the stack runs AWS's DynamoDB Local
	// on DynamoAddr, with its tables in DataDir/dynamodb, or in memory
	// when DynamoInMemory is set (benchmarks that measure our code, not
	// SQLite's disk writes).
	DynamoEndpoint string
	DynamoInMemory bool
	// DynamoAWS is the region and credentials for DynamoEndpoint (AWS
	// itself needs real ones); nil: the placeholders DynamoDB Local takes.
	DynamoAWS *aws.Config

	// DevAPIKey, when set, is registered as the development key instead
	// of a generated one (PLAINVIEW_DEV_API_KEY).
	DevAPIKey string
	// KeyCacheTTL and AuthorizerCacheTTL are how long the key file and the
	// authorizer's answers are cached; 0 (the local default) means a
	// revoked key stops working at once.
	KeyCacheTTL, AuthorizerCacheTTL time.Duration
	RequireKeyForReads              bool
	CORS                            cors.Policy
	// DisableThrottling turns the route throttles off (load tests).
	DisableThrottling bool
	// ActuationTimeout is how long a device has to report DONE; docs/API.md's
	// 30 s when zero (tests shorten it).
	ActuationTimeout time.Duration
	// TimeoutEvery is how often open actuations past their deadline are
	// timed out; 1 s when zero (a minute on AWS, where it is a schedule).
	TimeoutEvery time.Duration
	// Stream tunes GET /events as server-sent events, and StreamStall is
	// how long the gateway waits on a client that reads nothing of a
	// stream; zero: the deployed values (tests shorten them).
	Stream      httpapi.StreamConfig
	StreamStall time.Duration
}

// Stack is a running local stack.
type Stack struct {
	DynamoURL string // http://host:port, for DYNAMODB_ENDPOINT and aws --endpoint-url
	TableName string
	MQTTURL   string // tcp://host:port
	APIURL    string // http://host:port
	Operator  Login  // may watch every topic
	Store     *store.Store
	KeysFile  string // the key file: scripts/keys -file
	// DevKey is the development key when this start created it: it is
	// shown this once, and only its hash is kept.
	DevKey string
	// Devices are the inventory's devices with their broker logins at
	// start, also written to DevicesFile for the simulator; the file
	// follows the inventory as it changes (SyncDevices).
	Devices     []DeviceLogin
	DevicesFile string
	devices     *deviceRegistry
	// deviceSyncs holds the logins of the latest periodic sync until a
	// reader takes them (DeviceSyncs).
	deviceSyncs chan []DeviceLogin

	log    *slog.Logger
	db     *dynamolocal.Server // nil when the stack uses another DynamoDB
	dbLog  *os.File            // DynamoDB Local's output
	apiSrv *http.Server
	broker *mqttbroker.Broker
	pub    *publish.MQTT
	engine *rulesEngine
	// newBroker makes a broker on a listener (RestartBroker uses it);
	// brokerMu guards which broker is current.
	newBroker func(net.Listener) (*mqttbroker.Broker, error)
	brokerMu  sync.Mutex
	metrics   *cappedLog
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeErr  error
	once      sync.Once
}

// Start brings the stack up: it starts DynamoDB Local (unless given
// another DynamoDB), creates the table and the seed inventory where
// missing, and starts serving. Close stops it.
func Start(ctx context.Context, cfg Config) (st *Stack, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TimeoutEvery == 0 {
		cfg.TimeoutEvery = time.Second
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	s := &Stack{log: cfg.Logger, TableName: cfg.TableName, deviceSyncs: make(chan []DeviceLogin, 1)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	// DynamoDB.
	if err := s.startDynamoDB(ctx, cfg); err != nil {
		return nil, err
	}
	awsCfg := store.LocalConfig()
	if cfg.DynamoAWS != nil && cfg.DynamoEndpoint != "" {
		awsCfg = *cfg.DynamoAWS
	}
	s.Store = store.New(store.NewClient(awsCfg, s.DynamoURL), cfg.TableName, nil)
	if err := s.Store.CreateTable(ctx); err != nil {
		return nil, err
	}
	if err := s.migrate(ctx, cfg); err != nil {
		return nil, err
	}
	if err := s.Store.Seed(ctx); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	s.log.Info("dynamodb ready", "url", s.DynamoURL, "table", cfg.TableName)

	// Metrics (the local stand-in for CloudWatch) and the operators'
	// channel (the log, where AWS has SNS).
	metricsPath := filepath.Join(cfg.DataDir, "metrics.log")
	if s.metrics, err = openCappedLog(metricsPath, metricsLogMax); err != nil {
		return nil, fmt.Errorf("metrics log: %w", err)
	}
	emf := metrics.NewEmitter(failureEcho{w: s.metrics, log: s.log, path: metricsPath}, function.Namespace)
	note := notify.NewLog(s.log)

	// Devices: the inventory's logins, and ingestion behind the rules.
	s.DevicesFile = filepath.Join(cfg.DataDir, "devices.json")
	s.devices = &deviceRegistry{inventory: s.Store, path: s.DevicesFile, now: time.Now}
	if s.Devices, err = s.devices.sync(ctx); err != nil {
		return nil, err
	}
	env := function.Env{
		Config: config.Config{Version: cfg.Version, RequireKeyForReads: cfg.RequireKeyForReads},
		CORS:   cfg.CORS, Logger: s.log, Metrics: emf, Store: s.Store,
	}
	ingestEnv := env
	ingestEnv.Logger = s.log.With("component", "ingest")
	ingestHandler, ingester := ingestfunc.New(ingestEnv, note)
	s.engine = newRulesEngine(ingestHandler, ingester.DeadLetter, s.log.With("component", "rules"))

	// MQTT.
	if s.Operator, err = loadOrCreateLogin(filepath.Join(cfg.DataDir, "operator.json"), "operator"); err != nil {
		return nil, err
	}
	mqLn, err := net.Listen("tcp", cfg.MQTTAddr)
	if err != nil {
		return nil, fmt.Errorf("mqtt listener: %w", err)
	}
	s.MQTTURL = "tcp://" + mqLn.Addr().String()
	// The functions' own login lives only as long as this process.
	cloud := Login{Username: "plainview-cloud", Password: rand.Text()}
	s.newBroker = func(ln net.Listener) (*mqttbroker.Broker, error) {
		return newBroker(ln, s.Operator, cloud, s.devices, s.engine.published, s.log.With("component", "mqtt"))
	}
	if s.broker, err = s.newBroker(mqLn); err != nil {
		mqLn.Close()
		return nil, fmt.Errorf("mqtt broker: %w", err)
	}

	// The API: every function of the route table behind the local gateway.
	if s.pub, err = publish.NewMQTT(publish.MQTTOptions{URL: s.MQTTURL, ClientID: "plainview-cloud", Username: cloud.Username,
		Password: cloud.Password, Logger: s.log.With("component", "publisher")}); err != nil {
		return nil, fmt.Errorf("command publisher: %w", err)
	}
	// Each function built by the same constructor as its main.go, so
	// localhost answers what AWS does, route for route.
	opts := apifunc.Options{MQTT: brokerPing{addr: mqLn.Addr().String()}, Stream: cfg.Stream}
	table := routes.Table()
	handlers := map[string]apigateway.Handler{
		routes.FuncReads:     apifunc.Proxy(apifunc.Reads(env, opts)),
		routes.FuncValves:    apifunc.Proxy(apifunc.Valves(env, s.pub, cfg.ActuationTimeout, opts)),
		routes.FuncIncidents: apifunc.Proxy(apifunc.Incidents(env, note, opts)),
	}
	streams := map[string]apigateway.StreamHandler{
		routes.FuncEvents: apifunc.Stream(apifunc.Events(env, opts), cfg.StreamStall),
	}
	for _, fn := range routes.Functions(table) {
		if handlers[fn] == nil && streams[fn] == nil {
			return nil, fmt.Errorf("the route table names function %q, which the local stack does not build", fn)
		}
	}

	// Keys: the key file, the development key, and the authorizer over them.
	s.KeysFile = filepath.Join(cfg.DataDir, "keys.json")
	keyFile := auth.FileStore{Path: s.KeysFile}
	if s.DevKey, err = ensureDevKey(ctx, keyFile, cfg.DevAPIKey); err != nil {
		return nil, err
	}
	authorizer := auth.NewAuthorizer(auth.NewCache(existingKeyFile{keyFile}, cfg.KeyCacheTTL, nil), s.log.With("component", "authorizer"))
	apiLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("api listener: %w", err)
	}
	s.APIURL = "http://" + apiLn.Addr().String()
	gw := apigateway.New(table, handlers, apigateway.Options{
		Logger:             s.log,
		Authorizer:         apigateway.AuthorizerHandler(authorizer),
		AuthorizerCacheTTL: cfg.AuthorizerCacheTTL,
		RequireKeyForReads: cfg.RequireKeyForReads,
		CORS:               cfg.CORS,
		DisableThrottling:  cfg.DisableThrottling,
		Streams:            streams,
		Stall:              cfg.StreamStall,
	})
	s.apiSrv = &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	s.serve(s.apiSrv, apiLn)

	loopCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.every(loopCtx, deviceSyncEvery, "device inventory", func(ctx context.Context) error {
		logins, err := s.devices.follow(ctx)
		if err == nil && logins != nil {
			s.offerDeviceSync(logins)
		}
		return err
	})
	timeoutsEnv := env
	timeoutsEnv.Logger = s.log.With("component", "timeouts")
	timeouts := timeoutsfunc.New(timeoutsEnv, note)
	s.every(loopCtx, cfg.TimeoutEvery, "actuation timeouts", func(ctx context.Context) error {
		_, err := timeouts(ctx)
		return err
	})
	return s, nil
}

func (s *Stack) serve(srv *http.Server, ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
}

// every runs job each period until ctx ends, as EventBridge runs the
// timeouts function on AWS; what a run reports goes to the log as what.
func (s *Stack) every(ctx context.Context, period time.Duration, what string, job func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := job(ctx); err != nil && ctx.Err() == nil {
					s.log.Error(what, "error", err)
				}
			}
		}
	}()
}

// deviceSyncEvery is how soon a device registered through the API may
// connect to the local broker (its token is in the devices file by then).
const deviceSyncEvery = 2 * time.Second

// SyncDevices reads the inventory into the broker's logins now, rather
// than at the next tick, and returns them.
func (s *Stack) SyncDevices(ctx context.Context) ([]DeviceLogin, error) {
	return s.devices.sync(ctx)
}

// DeviceSyncs delivers the inventory's devices with their logins after
// each change the registry follows (checked every deviceSyncEvery), so that a follower such as
// the simulator need not read the whole inventory again. It holds only
// the latest: a reader that falls behind gets the newest.
func (s *Stack) DeviceSyncs() <-chan []DeviceLogin { return s.deviceSyncs }

// offerDeviceSync replaces what DeviceSyncs holds with logins. The sync
// loop is its only caller, so the channel has room after the drain.
func (s *Stack) offerDeviceSync(logins []DeviceLogin) {
	select {
	case <-s.deviceSyncs:
	default:
	}
	s.deviceSyncs <- logins
}

// Close stops serving, waits for requests in flight and for what the
// broker took in to be ingested, then stops DynamoDB Local.
func (s *Stack) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var errs []error
		if s.apiSrv != nil {
			errs = append(errs, s.apiSrv.Shutdown(ctx))
		}
		if s.pub != nil {
			s.pub.Close()
		}
		if s.broker != nil {
			errs = append(errs, s.StopBroker())
		}
		if s.engine != nil {
			s.engine.close() // what the broker took in is ingested before the save
		}
		if s.stop != nil {
			s.stop()
		}
		s.wg.Wait()
		if s.db != nil {
			// Last: what the engine drained above is written by now.
			errs = append(errs, s.db.Close())
		}
		if s.dbLog != nil {
			errs = append(errs, s.dbLog.Close())
		}
		if s.metrics != nil {
			errs = append(errs, s.metrics.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// StopBroker stops the MQTT broker alone, as an outage would: the API
// stays up and commands can no longer be delivered.
func (s *Stack) StopBroker() error {
	s.brokerMu.Lock()
	defer s.brokerMu.Unlock()
	return s.broker.Stop()
}

// RestartBroker stops the broker and starts a new one on the same
// address, as an IoT Core outage ends: clients must reconnect, and
// persistent sessions' queued messages are gone with the old broker, as
// the devices' own stores are what brings them back.
func (s *Stack) RestartBroker() error {
	s.brokerMu.Lock()
	defer s.brokerMu.Unlock()
	addr := strings.TrimPrefix(s.MQTTURL, "tcp://")
	if err := s.broker.Stop(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mqtt listener: %w", err)
	}
	b, err := s.newBroker(ln)
	if err != nil {
		ln.Close()
		return err
	}
	s.broker = b
	return nil
}

// devScopes are the development key's: everything.
var devScopes = []string{"read", "valves:actuate", "valves:override", "incidents:write", "alerts:write", "admin"}

// ensureDevKey gives a new key file its development key (docs/API.md): the
// given one, or a generated one that is returned to be shown this once. A
// key file that has keys already is left alone, except that a given key
// missing from it is added, and a given key whose id the file holds with
// another secret is an error.
func ensureDevKey(ctx context.Context, keys auth.FileStore, given string) (created string, err error) {
	ring, err := keys.Load(ctx)
	if err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	var k auth.Key
	switch {
	case given != "":
		if k, err = auth.KeyFromPlaintext(given, devScopes, nil, time.Now()); err != nil {
			return "", fmt.Errorf("PLAINVIEW_DEV_API_KEY: %w", err)
		}
		if ring.Has(k.ID) {
			// The id is taken: by this very key (a restart), or by
			// another, which must not be silently kept while the key
			// asked for gets 401s.
			if _, err := ring.Authenticate(given); err != nil {
				return "", fmt.Errorf("PLAINVIEW_DEV_API_KEY: the key file %s has a key with the id %q, "+
					"and it is not this key (another secret, or revoked): give your key another id, "+
					"or delete the key file to start the keys afresh", keys.Path, k.ID)
			}
			return "", nil
		}
	case len(ring.Keys) > 0:
		return "", nil
	default:
		if created, k, err = auth.Generate("dev", devScopes, nil, time.Now()); err != nil {
			return "", err
		}
	}
	if err := ring.Add(k); err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	if err := keys.Save(ctx, ring); err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	return created, nil
}

// brokerPing checks that the broker accepts connections.
type brokerPing struct{ addr string }

func (b brokerPing) Ping(ctx context.Context) error {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", b.addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// loadOrCreateLogin reads a login from path, or makes one with a random
// password and saves it (mode 0600) so it stays the same across restarts.
func loadOrCreateLogin(path, user string) (Login, error) {
	var l Login
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &l); err != nil || l.Username == "" || l.Password == "" {
			return l, fmt.Errorf("login file %s is damaged; delete it to make a new login", path)
		}
		return l, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return l, fmt.Errorf("login file: %w", err)
	}
	l = Login{Username: user, Password: rand.Text()}
	b, _ = json.Marshal(l)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return l, fmt.Errorf("login file: %w", err)
	}
	return l, nil
}
