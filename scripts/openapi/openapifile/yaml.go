package openapifile

import (
	"bytes"
	"fmt"

	"github.com/pb33f/go-yaml"
)

// yamlOf renders a JSON document as block-style YAML with its keys in
// their order. JSON is YAML already; parsing
// it as YAML keeps the keys in order, and clearing the styles of the flow
// syntax lets the encoder write blocks, quoting only the strings that
// would otherwise read as something else ("200", "true", "null").
func yamlOf(doc []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	plain(&root)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return b.Bytes(), nil
}

func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}
