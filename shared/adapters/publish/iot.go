// Package publish sends device commands to the MQTT broker and reports
// whether the broker took them.
//
// Both publishers use QoS 1: an error means the broker did not acknowledge
// the command, nil means it did. Neither keeps a command it reported as
// failed to send it later: a valve must not move on a command its
// actuation was already marked failed for.
package publish

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
)

// IoT publishes through the AWS IoT data plane's HTTPS Publish API, which
// answers only once IoT Core has taken the message.
type IoT struct {
	client *iotdataplane.Client
}

// NewIoT returns a publisher using c, which must point at the account's
// IoT data endpoint (iot:Data-ATS).
func NewIoT(c *iotdataplane.Client) *IoT {
	return &IoT{client: c}
}

// Publish sends payload, a JSON document, to topic with QoS 1.
func (p *IoT) Publish(ctx context.Context, topic string, payload []byte) error {
	_, err := p.client.Publish(ctx, &iotdataplane.PublishInput{
		Topic:   aws.String(topic),
		Qos:     1,
		Payload: payload,
		// The MQTT 5 content type, for subscribers that read it; the HTTP
		// body itself is sent as application/octet-stream by the SDK.
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("publish to %s through the IoT data plane: %w", topic, err)
	}
	return nil
}
