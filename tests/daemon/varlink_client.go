// SPDX-License-Identifier: GPL-2.0
//
// varlink-client: gigapoold seen by an independent varlink implementation,
// the reference Go library (github.com/varlink/go, Debian's
// golang-github-varlink-go-dev), so that the daemon is not only tested by
// clients that share its own framing code (protocol.c).
//
// It asks the daemon which interfaces it has (GetInfo through the
// library's own helper, which sends "parameters": null), parses every
// interface description with the library's IDL parser, calls every method
// the descriptions declare and checks each reply against the declared
// output type: every field that is not optional present, none that is not
// declared, each of its type.  A method declared but not called here is a
// failure, so a method added to the daemon cannot go untested by this
// client.  Errors are checked the same way against their declarations.
//
// Usage: varlink-client SOCKET (the daemon must be in pool mode with a
// managed node 0 and no reservation named go-client).  Prints "ok - ..."
// and "not ok - ..." lines, which integration.sh counts, and exits 1 if
// any check failed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/varlink/go/varlink"
	"github.com/varlink/go/varlink/idl"
)

const owner = "go-client"

var failed bool

func report(err error, format string, args ...interface{}) {
	what := fmt.Sprintf(format, args...)
	if err != nil {
		failed = true
		fmt.Printf("not ok - %s: %v\n", what, err)
		return
	}
	fmt.Printf("ok - %s\n", what)
}

// An interface description parsed by varlink/go, with its named types.
type iface struct {
	name    string
	idl     *idl.IDL
	aliases map[string]*idl.Type
	called  map[string]bool
}

// parseInterface parses the description of interface NAME.  varlink/go
// 0.4.0 (Debian 12) predates the varlink specification's change that
// allows capitals in interface names (varlink/go issue 28, fixed after
// that release), so its parser stops at "io.gigapool.Pool": only the name
// on the interface line is given to it in lower case, the rest of the
// description as the daemon sent it.
func parseInterface(name, desc string) (*iface, error) {
	line := "interface " + name + "\n"
	if !strings.Contains(desc, line) {
		return nil, fmt.Errorf("no line %q", line)
	}
	d, err := idl.New(strings.Replace(desc, line, strings.ToLower(line), 1))
	if err != nil {
		return nil, err
	}
	if d.Name != strings.ToLower(name) {
		return nil, fmt.Errorf("describes %s", d.Name)
	}
	i := &iface{name: name, idl: d, aliases: map[string]*idl.Type{}, called: map[string]bool{}}
	for _, a := range d.Aliases {
		i.aliases[a.Name] = a.Type
	}
	return i, nil
}

// conform checks a JSON value (decoded with UseNumber) against an IDL type.
func (i *iface) conform(v interface{}, t *idl.Type, path string) error {
	switch t.Kind {
	case idl.TypeMaybe:
		if v == nil {
			return nil
		}
		return i.conform(v, t.ElementType, path)
	case idl.TypeAlias:
		a, ok := i.aliases[t.Alias]
		if !ok {
			return fmt.Errorf("%s: type %s is not declared", path, t.Alias)
		}
		return i.conform(v, a, path)
	}
	if v == nil {
		return fmt.Errorf("%s: null for a type that is not optional", path)
	}
	switch t.Kind {
	case idl.TypeBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %v is not a bool", path, v)
		}
	case idl.TypeInt:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: %v is not a number", path, v)
		}
		if _, err := n.Int64(); err != nil {
			return fmt.Errorf("%s: %v is not an integer", path, n)
		}
	case idl.TypeFloat:
		if _, ok := v.(json.Number); !ok {
			return fmt.Errorf("%s: %v is not a number", path, v)
		}
	case idl.TypeString, idl.TypeEnum:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: %v is not a string", path, v)
		}
	case idl.TypeObject:
	case idl.TypeArray:
		a, ok := v.([]interface{})
		if !ok {
			return fmt.Errorf("%s: not an array", path)
		}
		for k, e := range a {
			if err := i.conform(e, t.ElementType, fmt.Sprintf("%s[%d]", path, k)); err != nil {
				return err
			}
		}
	case idl.TypeMap:
		m, ok := v.(map[string]interface{})
		if !ok {
			return fmt.Errorf("%s: not an object", path)
		}
		for k, e := range m {
			if err := i.conform(e, t.ElementType, path+"."+k); err != nil {
				return err
			}
		}
	case idl.TypeStruct:
		m, ok := v.(map[string]interface{})
		if !ok {
			return fmt.Errorf("%s: not an object", path)
		}
		declared := map[string]bool{}
		for _, f := range t.Fields {
			declared[f.Name] = true
			e, present := m[f.Name]
			if !present && f.Type.Kind != idl.TypeMaybe {
				return fmt.Errorf("%s.%s: missing", path, f.Name)
			}
			if err := i.conform(e, f.Type, path+"."+f.Name); err != nil {
				return err
			}
		}
		for k := range m {
			if !declared[k] {
				return fmt.Errorf("%s.%s: not declared", path, k)
			}
		}
	default:
		return fmt.Errorf("%s: unknown type kind %d", path, t.Kind)
	}
	return nil
}

func decode(raw json.RawMessage) (map[string]interface{}, error) {
	var v map[string]interface{}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// call calls interface method NAME through the library's Call, checks the
// reply against the method's declared output and returns it.
func (i *iface) call(conn *varlink.Connection, name string, in interface{}) (map[string]interface{}, error) {
	var m *idl.Method
	for _, x := range i.idl.Methods {
		if x.Name == name {
			m = x
		}
	}
	if m == nil {
		return nil, fmt.Errorf("%s.%s is not declared", i.name, name)
	}
	i.called[name] = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var raw json.RawMessage
	if err := conn.Call(ctx, i.name+"."+name, in, &raw); err != nil {
		return nil, err
	}
	out, err := decode(raw)
	if err == nil {
		err = i.conform(out, m.Out, name)
	}
	return out, err
}

// callError calls a method that must fail with the error NAME, and checks
// the error's parameters against its declaration in iface e.
func (i *iface) callError(conn *varlink.Connection, method string, in interface{}, e *iface, name string) (map[string]interface{}, error) {
	_, err := i.call(conn, method, in)
	var ve *varlink.Error
	if err == nil {
		return nil, fmt.Errorf("succeeded")
	}
	if !errors.As(err, &ve) {
		// The library turns the org.varlink.service errors into types of
		// its own; those are checked by the caller.
		return nil, err
	}
	if ve.Name != e.name+"."+name {
		return nil, fmt.Errorf("got %s", ve.Name)
	}
	raw, _ := ve.Parameters.(*json.RawMessage)
	if raw == nil {
		return nil, fmt.Errorf("%s without parameters", ve.Name)
	}
	params, err := decode(*raw)
	if err != nil {
		return nil, err
	}
	for _, d := range e.idl.Errors {
		if d.Name == name {
			return params, e.conform(params, d.Type, name)
		}
	}
	return nil, fmt.Errorf("error %s is not declared", name)
}

// serviceError checks that err is the org.varlink.service error NAME, which
// the library turns into a type of its own, naming WANT.
func serviceError(err error, name, want string) error {
	var inf *varlink.InterfaceNotFound
	var mnf *varlink.MethodNotFound
	var inv *varlink.InvalidParameter
	var got string

	switch {
	case name == "InterfaceNotFound" && errors.As(err, &inf):
		got = inf.Interface
	case name == "MethodNotFound" && errors.As(err, &mnf):
		got = mnf.Method
	case name == "InvalidParameter" && errors.As(err, &inv):
		got = inv.Parameter
	default:
		return fmt.Errorf("got %v, not %s", err, name)
	}
	return expect(got == want, "%s names %q", name, got)
}

func expect(cond bool, format string, args ...interface{}) error {
	if cond {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: varlink-client SOCKET")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := varlink.NewConnection(ctx, "unix:"+os.Args[1])
	if err != nil {
		fmt.Printf("not ok - connect to %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	defer conn.Close()

	var vendor, product, version, url string
	var names []string
	err = conn.GetInfo(ctx, &vendor, &product, &version, &url, &names)
	if err == nil {
		err = expect(vendor == "gigapool" && product == "gigapoold" && version != "" && url != "",
			"vendor %q product %q version %q url %q", vendor, product, version, url)
	}
	report(err, "GetInfo through varlink/go's own helper (parameters null)")
	sort.Strings(names)
	report(expect(strings.Join(names, " ") == "io.gigapool.Pool org.varlink.service",
		"interfaces %v", names), "GetInfo lists org.varlink.service and io.gigapool.Pool")

	ifaces := map[string]*iface{}
	for _, n := range names {
		desc, err := conn.GetInterfaceDescription(ctx, n)
		var i *iface
		if err == nil {
			i, err = parseInterface(n, desc)
		}
		report(err, "the description of %s parses with varlink/go's IDL parser", n)
		if err != nil {
			os.Exit(1)
		}
		ifaces[n] = i
	}
	svc, pool := ifaces["org.varlink.service"], ifaces["io.gigapool.Pool"]
	if svc == nil || pool == nil {
		os.Exit(1)
	}

	// org.varlink.service, through the generic Call as well.
	out, err := svc.call(conn, "GetInfo", nil)
	report(err, "org.varlink.service.GetInfo replies as declared")
	out, err = svc.call(conn, "GetInterfaceDescription", map[string]string{"interface": "io.gigapool.Pool"})
	if err == nil {
		err = expect(strings.Contains(fmt.Sprint(out["description"]), "interface io.gigapool.Pool"),
			"description %.40q...", out["description"])
	}
	report(err, "org.varlink.service.GetInterfaceDescription replies as declared")
	_, err = svc.call(conn, "GetInterfaceDescription", map[string]string{"interface": "io.example.Nope"})
	report(serviceError(err, "InterfaceNotFound", "io.example.Nope"), "an unknown interface gets InterfaceNotFound naming it")

	// io.gigapool.Pool: a reservation's life, then the errors.
	out, err = pool.call(conn, "Status", nil)
	if err == nil {
		err = expect(out["mode"] == "pool", "mode %v", out["mode"])
	}
	report(err, "Status replies as declared, in pool mode")
	out, err = pool.call(conn, "Reserve", map[string]interface{}{"owner": owner, "bytes": 2 << 30, "node": 0})
	if err == nil {
		err = expect(out["owner"] == owner && out["bytes"] == json.Number("2147483648") &&
			out["node"] == json.Number("0") && out["any"] == false,
			"reply %v", out)
	}
	report(err, "Reserve replies as declared with the reservation")
	out, err = pool.call(conn, "ListReservations", nil)
	if err == nil {
		list, _ := out["reservations"].([]interface{})
		err = expect(len(list) == 1 && list[0].(map[string]interface{})["owner"] == owner,
			"reservations %v", list)
	}
	report(err, "ListReservations replies as declared and holds it")
	_, err = pool.call(conn, "Plan", nil)
	report(err, "Plan replies as declared")
	_, err = pool.call(conn, "Rebalance", nil)
	report(err, "Rebalance replies as declared")
	out, err = pool.call(conn, "Release", map[string]string{"owner": owner})
	if err == nil {
		err = expect(len(out) == 0, "reply %v", out)
	}
	report(err, "Release replies as declared")
	out, err = pool.call(conn, "ListReservations", nil)
	if err == nil {
		list, _ := out["reservations"].([]interface{})
		err = expect(len(list) == 0, "reservations %v", list)
	}
	report(err, "the released reservation is gone")

	params, err := pool.callError(conn, "Release", map[string]string{"owner": owner}, pool, "NoSuchReservation")
	if err == nil {
		err = expect(params["owner"] == owner, "parameters %v", params)
	}
	report(err, "releasing it again gets NoSuchReservation as declared")
	_, err = pool.call(conn, "Reserve", map[string]interface{}{"owner": owner, "bytes": 0})
	report(serviceError(err, "InvalidParameter", "bytes"), "Reserve of 0 bytes gets InvalidParameter naming bytes")
	err = conn.Call(ctx, "io.gigapool.Pool.Nope", nil, nil)
	report(serviceError(err, "MethodNotFound", "io.gigapool.Pool.Nope"), "an unknown method gets MethodNotFound naming it")

	for _, n := range names {
		var missed []string
		for _, m := range ifaces[n].idl.Methods {
			if !ifaces[n].called[m.Name] {
				missed = append(missed, m.Name)
			}
		}
		report(expect(len(missed) == 0, "not called: %v", missed),
			"every method %s declares was called", n)
	}
	if failed {
		os.Exit(1)
	}
}
