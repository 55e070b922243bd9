package store

import (
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// isOneOf returns the condition "name IN (:p0, :p1, ...)", p being
// placeholder, and puts each of states in values under its placeholder: a
// write that must find an attribute in one of several states. DynamoDB
// takes no list as one value, so each state is a value of its own. states
// must not be empty ("IN ()" is not a condition DynamoDB accepts).
func isOneOf(name, placeholder string, states []string, values map[string]types.AttributeValue) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(" IN (")
	for i, st := range states {
		k := ":" + placeholder + strconv.Itoa(i)
		values[k] = str(st)
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
	}
	b.WriteString(")")
	return b.String()
}
