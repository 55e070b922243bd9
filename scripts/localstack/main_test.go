package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/plainview/serverless/shared/adapters/store"
	"github.com/plainview/serverless/shared/core/domain"
	"github.com/plainview/serverless/shared/testkit/syncbuf"
)

// These tests run the command itself, as make run does, with DynamoDB
// Local on disk in the data folder: they stop it, kill it, and start it
// again on the same data. (The stack's other tests share one in-memory
// DynamoDB Local: shared/local/stack.)

// devKey is a development key for these tests alone (its hash is kept in
// the test's data folder, which is deleted afterwards).
const devKey = "pv_cmdtest_" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// command is the built command, shared by the tests of this binary.
var command struct {
	once sync.Once
	path string
	err  error
}

func build(t *testing.T) string {
	t.Helper()
	command.once.Do(func() {
		dir, err := os.MkdirTemp("", "localstack-cmd-")
		if err != nil {
			command.err = err
			return
		}
		command.path = filepath.Join(dir, "localstack")
		out, err := exec.Command("go", "build", "-o", command.path, ".").CombinedOutput()
		if err != nil {
			command.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if command.err != nil {
		t.Fatal(command.err)
	}
	return command.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if command.path != "" {
		os.RemoveAll(filepath.Dir(command.path))
	}
	os.Exit(code)
}

// running is one run of the command.
type running struct {
	cmd            *exec.Cmd
	api, mqtt, ddb string
	keysCommand    string // what the banner says to run to list the keys
	javaPID        int
	exited         chan struct{}
	stderr         *syncbuf.Buffer
}

var (
	bannerURL  = regexp.MustCompile(`^\s+(API|DynamoDB|MQTT):\s+(\S+)`)
	bannerKeys = regexp.MustCompile(`^\s+Keys:\s+\S+\s+\((go run \./scripts/keys [^)]*)\)`)
	javaPID    = regexp.MustCompile(`"msg":"dynamodb local started".*"pid":(\d+)`)
)

// startCommand starts the command on dir, on free ports and with no simulator, and
// returns once it says it is up.
func startCommand(t *testing.T, dir string) *running {
	t.Helper()
	cmd := exec.Command(build(t), "-data", dir, "-no-simulator",
		"-dynamodb-addr", "127.0.0.1:0", "-mqtt-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "DYNAMODB_ENDPOINT=", "PLAINVIEW_DEV_API_KEY="+devKey)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &running{cmd: cmd, exited: make(chan struct{}), stderr: &syncbuf.Buffer{}}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-r.exited
	})
	up := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		said := false
		for sc.Scan() {
			if m := bannerKeys.FindStringSubmatch(sc.Text()); m != nil {
				r.keysCommand = m[1]
			}
			if m := bannerURL.FindStringSubmatch(sc.Text()); m != nil {
				switch m[1] {
				case "API":
					r.api = m[2]
				case "DynamoDB":
					r.ddb = m[2]
				case "MQTT":
					r.mqtt = m[2]
				}
			}
			if !said && strings.HasPrefix(sc.Text(), "Ctrl-C stops it.") {
				said = true
				up <- nil
			}
		}
		if !said {
			up <- fmt.Errorf("the command ended before it was up")
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-up:
		if err != nil {
			t.Fatalf("%v: %s", err, r.stderr.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("not up within 3 minutes: %s", r.stderr.String())
	}
	m := javaPID.FindStringSubmatch(r.stderr.String())
	if m == nil {
		t.Fatalf("no DynamoDB Local pid in the log: %s", r.stderr.String())
	}
	r.javaPID, _ = strconv.Atoi(m[1])
	return r
}

// stop sends sig and waits for the command to end.
func (r *running) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(time.Minute):
		t.Fatalf("still running a minute after %v", sig)
	}
	if sig != syscall.SIGKILL && !r.cmd.ProcessState.Success() {
		t.Errorf("after %v: %v\n%s", sig, r.cmd.ProcessState, r.stderr.String())
	}
	// Its DynamoDB Local goes with it, however it ended.
	deadline := time.Now().Add(30 * time.Second)
	for alive(r.javaPID) {
		if time.Now().After(deadline) {
			t.Fatalf("DynamoDB Local (pid %d) still runs 30 s after the stack ended by %v", r.javaPID, sig)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive says whether pid is a process that has not ended (a zombie has).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

func (r *running) call(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.api+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", devKey)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &m)
	return res.StatusCode, m
}

func TestWhatTheStackAnsweredOutlivesAStopAndAKill(t *testing.T) {
	dir := t.TempDir()

	// An incident with no affected modules (an empty list in the table,
	// which the old emulator could not read back after a restart).
	first := startCommand(t, dir)
	code, in := first.call(t, http.MethodPost, "/incidents", `{"title":"Pump 3 vibration","severity":"warning"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /incidents: %d %v", code, in)
	}
	quiet, _ := in["id"].(string)
	first.stop(t, os.Interrupt)

	second := startCommand(t, dir)
	for _, path := range []string{"/incidents/" + quiet, "/incidents", "/incidents/health"} {
		if code, body := second.call(t, http.MethodGet, path, ""); code != http.StatusOK {
			t.Errorf("GET %s after a graceful stop: %d %v", path, code, body)
		}
	}
	if code, body := second.call(t, http.MethodPost, "/pipeline/alerts", `{"section":"A-North","severity":"critical","volume_estimate":40}`); code != http.StatusCreated {
		t.Errorf("POST /pipeline/alerts after a graceful stop: %d %v", code, body)
	}
	// Killed at once after a 201: the answer was given, so it is kept.
	code, in = second.call(t, http.MethodPost, "/incidents", `{"title":"Valve v-102 stuck","severity":"critical"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /incidents: %d %v", code, in)
	}
	killed, _ := in["id"].(string)
	second.stop(t, syscall.SIGKILL)

	third := startCommand(t, dir)
	for _, id := range []string{quiet, killed} {
		if code, body := third.call(t, http.MethodGet, "/incidents/"+id, ""); code != http.StatusOK {
			t.Errorf("GET /incidents/%s after a SIGKILL: %d %v", id, code, body)
		}
	}
	third.stop(t, syscall.SIGTERM)
}

func TestEveryAcknowledgedReadingOutlivesAKill(t *testing.T) {
	dir := t.TempDir()
	first := startCommand(t, dir)
	var devices struct {
		Devices []struct {
			ID    string `json:"id"`
			Token string `json:"token"`
		} `json:"devices"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "devices.json"))
	if err != nil || json.Unmarshal(b, &devices) != nil {
		t.Fatalf("devices file: %v", err)
	}
	var token string
	for _, d := range devices.Devices {
		if d.ID == "v-101" {
			token = d.Token
		}
	}
	opts := paho.NewClientOptions().AddBroker(first.mqtt).SetClientID("v-101").SetUsername("v-101").SetPassword(token).
		SetAutoReconnect(false).SetConnectRetry(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}

	// Publish as fast as acknowledgements come back, 16 in flight, each
	// reading at its own millisecond an hour ago; kill the stack while
	// they flow.
	base := float64(time.Now().Add(-time.Hour).UnixMilli()) / 1000
	var mu sync.Mutex
	acked := map[int64]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; ; i += 16 {
				select {
				case <-stop:
					return
				default:
				}
				ts := base + float64(i)/1000
				tok := c.Publish("plainview/devices/v-101/telemetry", 1, false, fmt.Sprintf(`{"ts":%.3f,"temperature_c":%d}`, ts, 20+i%40))
				if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
					return
				}
				mu.Lock()
				acked[int64(ts*1000+0.5)] = true
				mu.Unlock()
			}
		})
	}
	for n := 0; n < 200; {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		n = len(acked)
		mu.Unlock()
	}
	first.stop(t, syscall.SIGKILL)
	close(stop)
	c.Disconnect(0)
	wg.Wait()

	second := startCommand(t, dir)
	db := store.NewClient(store.LocalConfig(), second.ddb)
	st := store.New(db, "plainview", nil)
	stored := map[int64]bool{}
	page := domain.Page{Limit: 500}
	for {
		rs, next, err := st.Readings(context.Background(), "v-101", time.UnixMilli(int64(base*1000)-1000), time.Now(), page)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			stored[r.At.UnixMilli()] = true
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	lost := 0
	for ts := range acked {
		if !stored[ts] {
			lost++
		}
	}
	t.Logf("%d readings acknowledged before the SIGKILL, %d stored", len(acked), len(stored))
	if lost > 0 {
		t.Errorf("%d of %d acknowledged readings lost to a SIGKILL", lost, len(acked))
	}

	// The table as AWS's own tools see it.
	ctx := context.Background()
	tables, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil || len(tables.TableNames) != 1 || tables.TableNames[0] != "plainview" {
		t.Errorf("ListTables: %v %v", tables, err)
	}
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("plainview")})
	if err != nil || desc.Table.TableStatus != types.TableStatusActive || len(desc.Table.GlobalSecondaryIndexes) == 0 {
		t.Errorf("DescribeTable: %v", err)
	}
	count, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("plainview"), Select: types.SelectCount})
	if err != nil || count.Count == 0 || len(count.Items) != 0 {
		t.Errorf("Scan COUNT: %d items counted, %d returned, %v", count.Count, len(count.Items), err)
	}
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("plainview")})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled ||
		aws.ToString(ttl.TimeToLiveDescription.AttributeName) != store.TTLAttribute {
		t.Errorf("DescribeTimeToLive: %+v %v", ttl, err)
	}
	second.stop(t, os.Interrupt)
}

// -h is a question, answered with the flags: no error, so the command
// exits 0; a flag it does not know is an error.
func TestHelpIsNoError(t *testing.T) {
	noEnv := func(string) string { return "" }
	var out, errOut bytes.Buffer
	if err := run([]string{"-h"}, noEnv, &out, &errOut); err != nil {
		t.Errorf("-h: %v, want no error", err)
	}
	if !strings.Contains(errOut.String(), "-no-simulator") {
		t.Errorf("-h printed %q, want the flags", errOut.String())
	}
	if err := run([]string{"-verbose"}, noEnv, &out, &errOut); err == nil {
		t.Error("-verbose: no error")
	}
}

// The banner's keys command, run as printed from the repository's top,
// lists the development key.
func TestTheBannersKeysCommandWorks(t *testing.T) {
	r := startCommand(t, t.TempDir())
	if r.keysCommand == "" {
		t.Fatal("the banner names no keys command")
	}
	args := strings.Fields(r.keysCommand)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", r.keysCommand, err, out)
	}
	if !strings.Contains(string(out), "cmdtest") {
		t.Errorf("%s printed %s, want the development key cmdtest listed", r.keysCommand, out)
	}
}
