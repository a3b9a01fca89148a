// loadgen sends signed Light webhooks (Standard Webhooks scheme) to the gridhook ingress.
//
// Open loop (-rate): requests leave at a constant rate whatever is outstanding, and latency is
// measured from each request's scheduled time, so a slow response cannot hide later latency.
// Closed loop (-workers, no -rate): each worker sends its next request when the previous one
// is answered; this finds the highest throughput. Prints one JSON object with the results.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	mrand "math/rand"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var eventTypes = []string{
	"enrollment.plan_requested", "enrollment.plan_accepted", "enrollment.identity_updated",
	"enrollment.finalized", "account.payment_method_added", "account.billing_address_updated",
	"account.payment_failed", "account.payment_successful", "location.service_active",
	"location.service_canceled", "location.usage_history_available",
}

type result struct {
	Mode          string         `json:"mode"`
	Rate          float64        `json:"offered_rate"`
	Workers       int            `json:"workers"`
	Seconds       float64        `json:"seconds"`
	Requests      int64          `json:"requests"`
	Errors        int64          `json:"errors"`
	Statuses      map[string]int `json:"statuses"`
	Throughput    float64        `json:"throughput"`
	P50ms         float64        `json:"p50_ms"`
	P99ms         float64        `json:"p99_ms"`
	P999ms        float64        `json:"p999_ms"`
	MaxMs         float64        `json:"max_ms"`
	P50OKms       float64        `json:"p50_ok_ms"`
	P99OKms       float64        `json:"p99_ok_ms"`
	P99OKService  float64        `json:"p99_ok_service_ms"`
	CPUSeconds    float64        `json:"loadgen_cpu_seconds"`
	MeanBodyBytes float64        `json:"mean_body_bytes"`
}

func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func digits(n int) string {
	var s strings.Builder
	for i := 0; i < n; i++ {
		s.WriteByte(byte('0' + mrand.Intn(10)))
	}
	return s.String()
}

// body is a realistic Light webhook of 0.5-2 KB.
func body(kind string) []byte {
	account := uuid()
	event := map[string]any{
		"id":         "evt_" + strings.ReplaceAll(uuid(), "-", ""),
		"type":       kind,
		"created_at": time.Now().UTC().Format(time.RFC3339Nano),
	}
	acct := map[string]any{
		"uuid": account, "account_number": digits(10), "created_at": "2026-10-01T12:00:00Z",
		"first_name": "Dana", "last_name": "Okafor", "email": "dana" + digits(4) + "@example.com",
		"phone_number": "+1512555" + digits(4),
		"enrollment": map[string]any{
			"has_accepted_plan": true, "has_payment_method": mrand.Intn(2) == 0,
			"is_billing_address_confirmed": mrand.Intn(2) == 0, "is_identity_verified": true,
			"is_enrollment_finalized": false, "is_service_active": false,
		},
		"app": map[string]any{"uuid": "app_8d1c", "name": "Installer app"},
	}
	data := map[string]any{"account": acct}
	if kind != "enrollment.plan_requested" {
		data["location"] = map[string]any{
			"uuid": "loc_" + account, "esi_id": digits(17), "address_1": digits(4) + " Congress Ave",
			"address_2": nil, "city": "Austin", "state": "TX", "postal_code": "78701",
			"utility_number": digits(13), "service_start_date": "2026-12-01",
			"final_service_date": nil, "is_service_active": true, "has_usage_history": false,
			"plan_name": "Light Saver 12", "plan_uuid": "plan_3f9a",
		}
	}
	// Real payloads vary: some carry notes or metadata that make them up to ~2 KB.
	if n := mrand.Intn(1100); n > 0 {
		data["notes"] = strings.Repeat("x", n)
	}
	event["data"] = data
	out, _ := json.Marshal(event)
	return out
}

type signer struct{ key []byte }

func (s signer) sign(id string, ts int64, payload []byte) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(payload)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

type collector struct {
	mu        sync.Mutex
	latencies []float64
	okLatency []float64
	okService []float64
	statuses  map[string]int
	errors    int64
	bodyBytes int64
}

func (c *collector) record(latency, service time.Duration, status string, ok bool, size int) {
	c.mu.Lock()
	c.latencies = append(c.latencies, float64(latency.Microseconds())/1000)
	c.statuses[status]++
	if ok {
		c.okLatency = append(c.okLatency, float64(latency.Microseconds())/1000)
		c.okService = append(c.okService, float64(service.Microseconds())/1000)
	}
	if !ok {
		c.errors++
	}
	c.bodyBytes += int64(size)
	c.mu.Unlock()
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/webhooks/light", "target URL")
	secret := flag.String("secret", "", "Standard Webhooks secret (whsec_...)")
	rate := flag.Float64("rate", 0, "requests per second (open loop); 0 means closed loop")
	workers := flag.Int("workers", 64, "closed-loop workers, or open-loop connection cap")
	duration := flag.Duration("duration", 30*time.Second, "how long to send")
	plain := flag.Bool("plain", false, "send unsigned bodies (for the reference servers)")
	flag.Parse()

	key := []byte(*secret)
	if strings.HasPrefix(*secret, "whsec_") {
		decoded, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*secret, "whsec_"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad secret:", err)
			os.Exit(2)
		}
		key = decoded
	}
	s := signer{key}
	transport := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, MaxConnsPerHost: 0,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	c := &collector{statuses: map[string]int{}}
	var sent int64

	send := func(scheduled time.Time) {
		kind := eventTypes[mrand.Intn(len(eventTypes))]
		payload := body(kind)
		req, _ := http.NewRequest("POST", *url, bytes.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		if !*plain {
			id := "msg_" + strings.ReplaceAll(uuid(), "-", "")
			ts := time.Now().Unix()
			req.Header.Set("webhook-id", id)
			req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
			req.Header.Set("webhook-signature", s.sign(id, ts, payload))
		}
		atomic.AddInt64(&sent, 1)
		began := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			c.record(time.Since(scheduled), time.Since(began), "error", false, len(payload))
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.record(time.Since(scheduled), time.Since(began), strconv.Itoa(resp.StatusCode), resp.StatusCode < 300, len(payload))
	}

	start := time.Now()
	deadline := start.Add(*duration)
	var wg sync.WaitGroup
	mode := "closed"
	if *rate > 0 {
		// Open loop: a schedule of send times feeds a fixed pool of connections. A request
		// waiting for a free connection still counts its latency from its scheduled time.
		mode = "open"
		interval := time.Duration(float64(time.Second) / *rate)
		schedule := make(chan time.Time, 1<<20)
		for w := 0; w < *workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for at := range schedule {
					send(at)
				}
			}()
		}
		for i := int64(0); ; i++ {
			scheduled := start.Add(time.Duration(i) * interval)
			if !scheduled.Before(deadline) {
				break
			}
			if wait := time.Until(scheduled); wait > 0 {
				time.Sleep(wait)
			}
			schedule <- scheduled
		}
		close(schedule)
	} else {
		for w := 0; w < *workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					send(time.Now())
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()

	sort.Float64s(c.latencies)
	sort.Float64s(c.okLatency)
	sort.Float64s(c.okService)
	percentile := func(sorted []float64, p float64) float64 {
		if len(sorted) == 0 {
			return 0
		}
		return sorted[int(p*float64(len(sorted)-1))]
	}
	pct := func(p float64) float64 { return percentile(c.latencies, p) }
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	cpu := float64(usage.Utime.Sec+usage.Stime.Sec) + float64(usage.Utime.Usec+usage.Stime.Usec)/1e6
	n := int64(len(c.latencies))
	out := result{
		Mode: mode, Rate: *rate, Workers: *workers, Seconds: elapsed, Requests: n,
		Errors: c.errors, Statuses: c.statuses, Throughput: float64(n-c.errors) / elapsed,
		P50ms: pct(0.50), P99ms: pct(0.99), P999ms: pct(0.999),
		P50OKms: percentile(c.okLatency, 0.50), P99OKms: percentile(c.okLatency, 0.99),
		P99OKService: percentile(c.okService, 0.99),
		CPUSeconds:   cpu, MeanBodyBytes: float64(c.bodyBytes) / float64(max(n, 1)),
	}
	if n > 0 {
		out.MaxMs = c.latencies[n-1]
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
