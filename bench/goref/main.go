// goref is the compiled reference for the ingress benchmark: Go net/http plus franz-go,
// checking the Light webhook's HMAC (Standard Webhooks) and answering 204 once Kafka has the
// record (acks=all, idempotent producer, as gridhook's). It validates no schema and keeps no
// deduplication: it is the floor of what any ingress on this machine can cost.
//
// Usage: goref -listen 127.0.0.1:PORT -brokers HOST:PORT -secret whsec_... [-topic T]
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to serve on")
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers")
	secret := flag.String("secret", "", "the Light signing secret (whsec_<base64>)")
	topic := flag.String("topic", "bench.reference", "topic to publish to")
	flag.Parse()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*secret, "whsec_"))
	if err != nil || len(key) == 0 {
		log.Fatal("goref: -secret must be whsec_<base64>")
	}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	http.HandleFunc("/webhooks/light", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id := r.Header.Get("webhook-id")
		if !signed(key, id, r.Header.Get("webhook-timestamp"), body, r.Header.Get("webhook-signature")) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		record := &kgo.Record{Topic: *topic, Key: []byte(id), Value: body}
		if err := client.ProduceSync(context.Background(), record).FirstErr(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}

func signed(key []byte, id, timestamp string, body []byte, header string) bool {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, candidate := range strings.Fields(header) {
		if hmac.Equal([]byte(candidate), []byte(want)) {
			return true
		}
	}
	return false
}
