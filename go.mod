module github.com/tapagent/tapagent

go 1.26.8

require (
	github.com/BurntSushi/toml v1.5.0
	github.com/warthog618/go-gpiocdev v0.9.1
	go.bug.st/serial v1.6.4
	go.etcd.io/bbolt v1.4.3
	golang.org/x/sys v0.38.0
)

require github.com/creack/goselect v0.1.2 // indirect
