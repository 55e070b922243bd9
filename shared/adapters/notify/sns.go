// Package notify tells operators about critical alerts and incidents.
package notify

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// maxSubject is the longest subject SNS takes: its API reference says
// "less than 100 characters".
const maxSubject = 99

// SNS publishes notifications to an SNS topic, which fans them out to the
// operators' email, SMS or chat subscriptions.
type SNS struct {
	client   *sns.Client
	topicARN string
}

// Operators is the notifier of the operators' SNS topic named by
// NOTIFY_TOPIC_ARN, for the functions that page people (incidents, ingest,
// timeouts).
func Operators(cfg aws.Config, getenv func(string) string) (*SNS, error) {
	arn := getenv("NOTIFY_TOPIC_ARN")
	if arn == "" {
		return nil, fmt.Errorf("configuration: NOTIFY_TOPIC_ARN (the operators' SNS topic) is not set")
	}
	return NewSNS(sns.NewFromConfig(cfg), arn), nil
}

// NewSNS returns a notifier publishing to the topic topicARN through c.
func NewSNS(c *sns.Client, topicARN string) *SNS {
	return &SNS{client: c, topicARN: topicARN}
}

// Notify publishes message with subject. The subject is made fit for SNS
// first (see cleanSubject): SNS refuses, or replaces with an error text, a
// subject it does not take, and an odd alert name must not cost the page.
// The message goes as it is.
func (n *SNS) Notify(ctx context.Context, subject, message string) error {
	in := &sns.PublishInput{
		TopicArn: aws.String(n.topicARN),
		Message:  aws.String(message),
	}
	if s := cleanSubject(subject); s != "" {
		in.Subject = aws.String(s)
	}
	if _, err := n.client.Publish(ctx, in); err != nil {
		return fmt.Errorf("notify through SNS topic %s: %w", n.topicARN, err)
	}
	return nil
}

// cleanSubject returns s as SNS accepts a subject: printable ASCII only, with
// no line breaks or control characters, starting with a letter, digit or
// punctuation mark, and under 100 characters. Anything else becomes a
// space; runs of spaces become one; the result is trimmed and cut to fit.
// An empty result means: send no subject.
func cleanSubject(s string) string {
	printable := strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return ' '
		}
		return r
	}, s)
	out := strings.Join(strings.Fields(printable), " ")
	if len(out) > maxSubject {
		out = strings.TrimRight(out[:maxSubject], " ")
	}
	return out
}
