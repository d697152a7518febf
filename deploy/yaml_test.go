package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// obj is one decoded YAML document or mapping.
type obj = map[string]any

// decodeAll decodes every document of a multi-document YAML stream.
func decodeAll(t *testing.T, name string, data []byte) []obj {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []obj
	for {
		var doc obj
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc != nil {
			out = append(out, doc)
		}
	}
}

func readYAML(t *testing.T, path string) []obj {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, path, data)
}

// Tagged is a YAML value carrying a custom tag (Authentik's !Find, !KeyOf,
// !Context, !Env, !Format …): the tag and the value it annotates.
type Tagged struct {
	Tag   string
	Value any
}

func (t Tagged) String() string { return fmt.Sprintf("%s %v", t.Tag, t.Value) }

// decodeTagged decodes one YAML document, keeping custom tags as Tagged
// values instead of failing on them as a plain decode into any would.
func decodeTagged(data []byte) (any, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	return fromNode(&n)
}

func fromNode(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return fromNode(n.Content[0])
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.MappingNode:
		m := obj{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := fromNode(n.Content[i])
			if err != nil {
				return nil, err
			}
			val, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = val
		}
		v = m
	case yaml.SequenceNode:
		var l []any
		for _, c := range n.Content {
			val, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		if strings.HasPrefix(n.Tag, "!!") || n.Tag == "" {
			var s any
			if err := n.Decode(&s); err != nil {
				return nil, err
			}
			return s, nil
		}
		v = n.Value
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return Tagged{Tag: n.Tag, Value: v}, nil
	}
	return v, nil
}

// get walks a path of map keys and list indexes ("spec", "template", 0 …).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(obj)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	switch s := get(v, path...).(type) {
	case string:
		return s
	case nil:
		return ""
	default:
		return fmt.Sprint(s)
	}
}

func list(v any, path ...any) []any {
	l, _ := get(v, path...).([]any)
	return l
}

func mapping(v any, path ...any) obj {
	m, _ := get(v, path...).(obj)
	return m
}

func integer(v any, path ...any) (int, bool) {
	switch n := get(v, path...).(type) {
	case int:
		return n, true
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}

// merge applies a strategic-merge patch the simple way: maps merge
// recursively, everything else (lists included) is replaced. That is all the
// overlay's patches need.
func merge(dst, patch obj) {
	for k, pv := range patch {
		if pm, ok := pv.(obj); ok {
			if dm, ok := dst[k].(obj); ok {
				merge(dm, pm)
				continue
			}
		}
		dst[k] = pv
	}
}
