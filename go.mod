module github.com/tapagent/tapagent

go 1.26.8

require (
	github.com/BurntSushi/toml v1.5.0
	github.com/eclipse/paho.mqtt.golang v1.5.0
	github.com/mochi-mqtt/server/v2 v2.6.6
	github.com/warthog618/go-gpiocdev v0.9.1
	go.bug.st/serial v1.6.4
	go.etcd.io/bbolt v1.4.3
	golang.org/x/sys v0.38.0
	periph.io/x/conn/v3 v3.7.3
	periph.io/x/host/v3 v3.8.5
)

require (
	github.com/creack/goselect v0.1.2 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/rs/xid v1.4.0 // indirect
	golang.org/x/net v0.27.0 // indirect
	golang.org/x/sync v0.10.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
